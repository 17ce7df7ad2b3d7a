"""``turnout.exceptions``: the counterpart of ``temporalio.exceptions``.

The same classes are raised on every executor (on Temporal, turnout converts
temporalio's exceptions and keeps the cause chain), so ``except ActivityError`` and
``isinstance(err.cause, ApplicationError)`` read the same everywhere.
``TemporalError`` is turnout's base error, :class:`~turnout.TurnoutError`.
"""

from __future__ import annotations

import asyncio

from turnout.contracts.errors import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    FailureError,
    RetryState,
    TerminatedError,
    TimeoutError,
    TimeoutType,
    TurnoutError,
    WorkflowAlreadyStartedError,
)

TemporalError = TurnoutError
"""The base of every error turnout raises (``temporalio.exceptions.TemporalError``)."""

__all__ = [
    "ActivityError",
    "ApplicationError",
    "CancelledError",
    "ChildWorkflowError",
    "FailureError",
    "RetryState",
    "TemporalError",
    "TerminatedError",
    "TimeoutError",
    "TimeoutType",
    "WorkflowAlreadyStartedError",
    "is_cancelled_exception",
]


def is_cancelled_exception(exception: BaseException) -> bool:
    """Whether ``exception`` means "cancelled": asyncio's or turnout's CancelledError, or an
    activity or child workflow error caused by one. Workflow code uses it to tell a
    cancellation, which it should let through, from a failure it may handle."""
    if isinstance(exception, asyncio.CancelledError | CancelledError):
        return True
    return isinstance(exception, ActivityError | ChildWorkflowError) and isinstance(
        exception.__cause__, CancelledError
    )
