"""How a command fails: one line on stderr and an exit code, never a traceback.

Exit codes: 1 for a command that ran but failed (:class:`Failed`: a run that failed or
is not found, a replay that diverges); 2 for a command that could not run: bad usage, a
value that cannot be accepted (:class:`BadInput`, click's usage errors), or a
configuration it cannot work with (:class:`BadConfiguration`: a database URL or setting
that is wrong, a database or Temporal server that cannot be reached, an extra or a
module that is not installed).

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

from turnout._connect import database_error
from turnout.cli._output import err
from turnout.contracts.errors import (
    ConfigurationError,
    ExecutorUnavailableError,
    TurnoutError,
)
from turnout.contracts.limits import InvalidInputError, parse_json

__all__ = ["BadConfiguration", "BadInput", "Failed", "guard", "json_args", "run_async"]


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


class BadConfiguration(BadInput):
    """The command cannot run as configured (exit code 2, one line that names the fix): a
    setting, a database or Temporal server it cannot reach, an extra or a module that is
    not installed."""


def _configuration(exc: BaseException, database_url: str | None) -> BadConfiguration | None:
    """``exc`` as a configuration error, when it is one."""
    if isinstance(exc, ConfigurationError | ExecutorUnavailableError):
        return BadConfiguration(str(exc))
    explained = database_error(exc, database_url) if database_url is not None else None
    if explained is not None:
        return BadConfiguration(str(explained))
    return None


def json_args(values: Sequence[str], what: str) -> list[Any]:
    """Each of ``values`` parsed as JSON (depth, NaN and NUL checked); BadInput otherwise."""
    args = []
    for value in values:
        try:
            args.append(parse_json(value, what))
        except InvalidInputError as exc:
            raise BadInput(str(exc)) from None
    return args


def run_async(
    coro: Awaitable[Any], loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
) -> Any:
    """Run a command's coroutine (on a loop from ``loop_factory``, when given); turn the
    errors it may raise into exit codes."""
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(coro)  # type: ignore[arg-type]
    except InvalidInputError as exc:  # a value the user gave: exit code 2, one line
        raise BadInput(str(exc)) from exc
    except (ConfigurationError, ExecutorUnavailableError) as exc:
        raise BadConfiguration(str(exc)) from exc
    except TurnoutError as exc:
        raise Failed(str(exc)) from exc
    except TimeoutError as exc:  # an OSError, but its message says what to do
        raise Failed(str(exc)) from exc
    except (OSError, ConnectionError) as exc:
        raise BadConfiguration(
            f"{exc} (check the database URL / Temporal address: turnout doctor)"
        ) from exc


def guard(fn: Callable[[], Any], *, database_url: str | None = None) -> Any:
    """Call ``fn``; any error it raises fails the command with its message: exit code 2 for
    a configuration error (or, with ``database_url``, a database that cannot be opened or
    reached), 1 for anything else."""
    try:
        return fn()
    except Exception as exc:
        configuration = _configuration(exc, database_url)
        if configuration is not None:
            raise configuration from exc
        if isinstance(exc, TurnoutError):
            raise Failed(str(exc)) from exc
        raise Failed(f"{type(exc).__name__}: {exc}") from exc
