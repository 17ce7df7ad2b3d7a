"""How a command fails: one line on stderr and an exit code, never a traceback.

Exit codes: 1 for a command that ran but failed (:class:`Failed`), 2 for bad usage or
a value that cannot be accepted (:class:`BadInput`, click's usage errors).

Every value a user types goes through the validators of
:mod:`turnout.contracts.limits` (the Python API's and the HTTP API's too); what they
refuse is reported as ``error: <what, why, the fix>``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from turnout.cli._output import err
from turnout.contracts.errors import TurnoutError
from turnout.contracts.limits import InvalidInputError, parse_json

__all__ = ["BadInput", "Failed", "guard", "json_args", "run_async"]


class Failed(click.ClickException):
    """A command that ran but failed (exit code 1)."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        err.print(Text.assemble(("error:", "red"), f" {self.message}"))


class BadInput(click.ClickException):
    """A value given on the command line cannot be accepted (exit code 2, one line)."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        Console(stderr=True, highlight=False, markup=False, soft_wrap=True).print(
            Text.assemble(("error:", "red"), f" {self.message}")
        )


def json_args(values: Sequence[str], what: str) -> list[Any]:
    """Each of ``values`` parsed as JSON (depth, NaN and NUL checked); BadInput otherwise."""
    args = []
    for value in values:
        try:
            args.append(parse_json(value, what))
        except InvalidInputError as exc:
            raise BadInput(str(exc)) from None
    return args


def run_async(coro: Awaitable[Any]) -> Any:
    """Run a command's coroutine; turn the errors it may raise into exit codes."""
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except InvalidInputError as exc:  # a value the user gave: exit code 2, one line
        raise BadInput(str(exc)) from exc
    except TurnoutError as exc:
        raise Failed(str(exc)) from exc
    except TimeoutError as exc:  # an OSError, but its message says what to do
        raise Failed(str(exc)) from exc
    except (OSError, ConnectionError) as exc:
        raise Failed(f"{exc} (check the database URL / Temporal address: turnout doctor)") from exc


def guard(fn: Callable[[], Any]) -> Any:
    """Call ``fn``; any error it raises fails the command with its message."""
    try:
        return fn()
    except TurnoutError as exc:
        raise Failed(str(exc)) from exc
    except Exception as exc:
        raise Failed(f"{type(exc).__name__}: {exc}") from exc
