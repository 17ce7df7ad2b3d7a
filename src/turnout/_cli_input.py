"""Bad input on the command line: one line on stderr and exit code 2, never a traceback.

Every value a user types goes through the validators of
:mod:`turnout.contracts.limits` (the Python API's and the HTTP API's too); what they
refuse is reported here as ``error: <what, why, the fix>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from turnout.contracts.limits import InvalidInputError, parse_json

__all__ = ["BadInput", "json_args"]


class BadInput(click.ClickException):
    """A value given on the command line cannot be accepted (exit code 2, one line)."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"[red]error:[/red] {escape(self.message)}"
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
