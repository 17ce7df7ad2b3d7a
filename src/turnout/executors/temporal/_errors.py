"""Exceptions across the boundary: turnout's classes in user code, temporalio's on the wire."""

from __future__ import annotations

from typing import Any

import temporalio.exceptions as tx

from turnout.contracts import errors as te

__all__ = ["suppressed", "to_temporal", "to_turnout"]


def suppressed(exc: BaseException) -> BaseException:
    """``exc`` with the exception being handled hidden from its traceback (its cause kept)."""
    exc.__suppress_context__ = True
    return exc


_ORIGINAL = "__turnout_temporal_original__"


def to_turnout(exc: BaseException) -> BaseException:
    """A temporalio failure (and its cause chain) as turnout's exception classes."""
    if not isinstance(exc, tx.FailureError):
        return exc
    converted: te.FailureError
    match exc:
        case tx.ApplicationError():
            converted = te.ApplicationError(
                exc.message,
                *exc.details,
                type=exc.type,
                non_retryable=exc.non_retryable,
                next_retry_delay=exc.next_retry_delay,
            )
        case tx.ActivityError():
            converted = te.ActivityError(
                exc.message,
                activity_type=exc.activity_type,
                activity_id=exc.activity_id,
                retry_state=_retry_state(exc.retry_state),
            )
        case tx.ChildWorkflowError():
            converted = te.ChildWorkflowError(
                exc.message,
                workflow_id=exc.workflow_id,
                run_id=exc.run_id,
                workflow_type=exc.workflow_type,
                retry_state=_retry_state(exc.retry_state),
            )
        case tx.TimeoutError():
            kind = exc.type.name.lower() if exc.type is not None else None
            converted = te.TimeoutError(
                exc.message,
                type=te.TimeoutType(kind) if kind in {t.value for t in te.TimeoutType} else None,
                last_heartbeat_details=exc.last_heartbeat_details,
            )
        case tx.CancelledError():
            converted = te.CancelledError(exc.message, *exc.details)
        case tx.TerminatedError():
            converted = te.TerminatedError(exc.message, *exc.details)
        case _:
            converted = te.ApplicationError(exc.message, type=type(exc).__name__)
    if exc.__cause__ is not None:
        converted.__cause__ = to_turnout(exc.__cause__)
    setattr(converted, _ORIGINAL, exc)
    converted._failure = _failure_of(exc, converted)
    return converted


def _failure_of(exc: tx.FailureError, converted: te.FailureError) -> te.Failure | None:
    """The failure Temporal carried (with its stack trace), in turnout's record."""
    raw = exc.failure
    if raw is None:
        return None
    record = te.failure_from_exception(converted, with_stack=False)
    return record.model_copy(update={"stack_trace": raw.stack_trace or None})


def to_temporal(exc: BaseException) -> BaseException:
    """turnout's exception as temporalio's, so Temporal records a failure (not a task error)."""
    original = getattr(exc, _ORIGINAL, None)
    if original is not None:
        return original  # type: ignore[no-any-return]
    if not isinstance(exc, te.FailureError):
        return exc
    converted: tx.FailureError
    match exc:
        case te.ApplicationError():
            converted = tx.ApplicationError(
                exc.message,
                *exc.details,
                type=exc.type,
                non_retryable=exc.non_retryable,
                next_retry_delay=exc.next_retry_delay,
            )
        case te.CancelledError():
            converted = tx.CancelledError(exc.message, *exc.details)
        case _:
            converted = tx.ApplicationError(exc.message, type=type(exc).__name__)
    if exc.__cause__ is not None:
        converted.__cause__ = to_temporal(exc.__cause__)
    # The failure's stack trace is where the error was raised, not where it was converted.
    return converted.with_traceback(exc.__traceback__)


def _retry_state(state: Any) -> te.RetryState | None:
    if state is None:
        return None
    name = str(getattr(state, "name", state)).lower()
    for value in te.RetryState:
        if name.endswith(value.value):
            return value
    return None
