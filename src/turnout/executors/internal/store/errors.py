"""The store's errors, and how a caller tells an unreachable database from a value the
database refused."""

from __future__ import annotations

from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    InterfaceError,
    OperationalError,
    StatementError,
)

from turnout.contracts.limits import InvalidInputError

__all__ = [
    "UNREACHABLE",
    "RefusedValueError",
    "StaleTaskError",
    "UnhandledSignalError",
    "refused_value",
    "unstorable",
]


class StaleTaskError(Exception):
    """A worker's write lost its lease or its run moved on; nothing was changed."""


class UnhandledSignalError(Exception):
    """A workflow task tried to close its run over a signal it had not seen; nothing was
    changed, and the task must be redone."""


class RefusedValueError(ValueError):
    """The database refused a value of one item (nothing of that item was stored)."""


UNREACHABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
"""Errors that every write of a batch would meet: the database is out of reach (or
asks for the transaction again). Any other error of a batch is one item's own."""


def unstorable(exc: BaseException) -> bool:
    """True for an error of a value the database cannot hold (NUL in text, a date out of
    range, a name too long, a value JSON cannot carry): writing it again fails again.
    turnout's own refusals (InvalidInputError) already say what is wrong: not these."""
    if isinstance(exc, InvalidInputError):
        return False
    if isinstance(exc, DataError | OverflowError | TypeError | ValueError):
        return True  # the driver's own encoding errors (json, UTF-8) come unwrapped
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


def refused_value(what: str, exc: BaseException) -> RefusedValueError:
    """A one-line error for ``what`` that the database refused with ``exc``."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    reason = lines[0] if lines else type(cause).__name__
    return RefusedValueError(f"{what} cannot be stored: {reason}")
