"""The base every command shares: what it declares of itself."""

from __future__ import annotations

from typing import Any, ClassVar

from turnout.contracts.errors import Failure
from turnout.contracts.states import RunState

__all__ = ["Declared"]


class Declared:
    """What every command declares of itself, so its handling is data, not a dispatch on
    its class: ``closes`` is the run state it closes the run in (None: it does not),
    ``appended`` whether its event goes in its own run's history, and :meth:`payload` the
    user value it carries that must be storable."""

    closes: ClassVar[RunState | None] = None
    appended: ClassVar[bool] = True

    def payload(self) -> tuple[Any, str] | None:
        """The user value this command stores and how to name it in an error (None)."""
        return None

    def outcome(self) -> tuple[Any, Failure | None]:
        """The closed run's result and failure (for a command that ``closes``)."""
        return None, None
