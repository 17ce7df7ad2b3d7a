"""turnout's exceptions, and their portable form (:class:`Failure`).

The names mirror ``temporalio.exceptions`` and ``temporalio.client`` for the
subset turnout supports, so ``except ApplicationError`` reads the same on both
executors. Failures cross process and executor boundaries as :class:`Failure`
records (JSON), never as pickled exceptions.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = [
    "ActivityError",
    "ApplicationError",
    "ApprovalAlreadyDecidedError",
    "ApprovalNotFoundError",
    "CancelledError",
    "ChildWorkflowError",
    "ConfigurationError",
    "DataConversionError",
    "ExecutorUnavailableError",
    "Failure",
    "FailureError",
    "IllegalTransitionError",
    "NonDeterminismError",
    "RestrictedWorkflowAccessError",
    "RetryState",
    "TerminatedError",
    "TimeoutError",
    "TimeoutType",
    "TurnoutError",
    "WorkflowAlreadyCompletedError",
    "WorkflowAlreadyStartedError",
    "WorkflowContinuedAsNewError",
    "WorkflowFailureError",
    "WorkflowNotFoundError",
    "WorkflowQueryFailedError",
    "error_line",
    "exception_from_failure",
    "failure_from_exception",
]


class TurnoutError(Exception):
    """Base class of every error turnout raises."""


class ConfigurationError(TurnoutError):
    """A setting is missing or wrong; the message says what was given and what is accepted."""


class ExecutorUnavailableError(TurnoutError, ConnectionError):
    """The database or the Temporal server cannot be reached: the message says which, why
    (one line) and what to check."""


class IllegalTransitionError(TurnoutError):
    """A run was asked to move between two states the transition table does not connect."""

    def __init__(self, source: str, target: str) -> None:
        self.source = source
        self.target = target
        super().__init__(
            f"illegal run state transition {source!r} -> {target!r}; "
            f"see turnout.contracts.states.TRANSITIONS for the allowed moves"
        )


class NonDeterminismError(TurnoutError):
    """Workflow code produced a command that contradicts the recorded history."""


class RestrictedWorkflowAccessError(NonDeterminismError):
    """Workflow code called something whose answer changes on replay (the clock, random
    numbers, I/O): the workflow task fails, as in Temporal's sandbox. The message names
    the call and its deterministic replacement."""


class WorkflowAlreadyStartedError(TurnoutError):
    """A workflow with this id (or idempotency key) is already running or was run."""

    def __init__(self, workflow_id: str, workflow_type: str, *, run_id: str | None = None) -> None:
        self.workflow_id = workflow_id
        self.workflow_type = workflow_type
        self.run_id = run_id
        super().__init__(
            f"workflow {workflow_id!r} ({workflow_type}) already started"
            + (f" as run {run_id}" if run_id else "")
            + "; pass id_conflict_policy / id_reuse_policy to choose another behaviour"
        )


class WorkflowNotFoundError(TurnoutError):
    """No run exists for this workflow id (and run id)."""

    def __init__(self, workflow_id: str, run_id: str | None = None) -> None:
        self.workflow_id = workflow_id
        self.run_id = run_id
        where = f"workflow {workflow_id!r}" + (f" run {run_id!r}" if run_id else "")
        super().__init__(f"{where} not found (check the id, the tenant and the database URL)")


class DataConversionError(TurnoutError, TypeError, ValueError):
    """A value cannot be converted to JSON (or from it into the declared type): raised by
    every executor's client before anything is sent or stored. Both a ``TypeError`` and a
    ``ValueError``, so code that catches either (temporalio raises pydantic's
    serialization error, a ``ValueError``) still catches it."""

    def __init__(self, what: str, detail: object) -> None:
        self.what = what
        super().__init__(
            f"{what} cannot be converted to JSON: {detail}; pass JSON-compatible values, "
            "pydantic models or dataclasses"
        )


class WorkflowAlreadyCompletedError(WorkflowNotFoundError):
    """The run is closed: a signal, a cancel request or a termination reaches only an open
    run. Temporal answers such a call "workflow execution already completed"; turnout
    raises this on every executor. It is a :class:`WorkflowNotFoundError`, so code that
    catches that still catches it."""

    def __init__(
        self, workflow_id: str, run_id: str | None = None, state: str | None = None
    ) -> None:
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.state = state
        where = f"workflow {workflow_id!r}" + (f" run {run_id!r}" if run_id else "")
        closed = f" ({state})" if state else ""
        TurnoutError.__init__(
            self,
            f"{where} already completed{closed}: signals, updates and terminations reach only an "
            "open run; start a new run to go on",
        )


class WorkflowQueryFailedError(TurnoutError):
    """A query handler raised, or the query name is unknown."""


class PayloadTooLargeError(TurnoutError):
    """A payload (input, signal arguments, result) is larger than the configured limit."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        self.what = what
        self.size = size
        self.limit = limit
        super().__init__(
            f"{what} is {size:,} bytes of JSON, over the {limit:,}-byte payload limit "
            "(TURNOUT_MAX_PAYLOAD_BYTES); store large data elsewhere (a file, an object "
            "store) and pass a reference, or raise the limit"
        )


class ApprovalNotFoundError(TurnoutError):
    """No approval of this name was requested by the run (or it is not pending)."""

    def __init__(self, workflow_id: str, name: str, *, pending: Sequence[str] = ()) -> None:
        self.workflow_id = workflow_id
        self.name = name
        self.pending = list(pending)
        waiting = (
            f"it waits on: {', '.join(repr(p) for p in pending)}"
            if pending
            else "it waits on no approval"
        )
        super().__init__(
            f"workflow {workflow_id!r} has no pending approval {name!r}; {waiting} "
            "(list them with `turnout approvals` or client.list_pending_approvals())"
        )


class ApprovalAlreadyDecidedError(TurnoutError):
    """The approval was decided already; a decision is final."""

    def __init__(
        self, workflow_id: str, name: str, *, outcome: str, decided_by: str | None = None
    ) -> None:
        self.workflow_id = workflow_id
        self.name = name
        self.outcome = outcome
        self.decided_by = decided_by
        by = f" by {decided_by}" if decided_by else ""
        super().__init__(
            f"approval {name!r} of workflow {workflow_id!r} was already decided: "
            f"{outcome}{by}; a decision is final and nothing was changed"
        )


class RetryState(StrEnum):
    """Why retrying stopped (same names as Temporal's ``RetryState``)."""

    IN_PROGRESS = "in_progress"
    NON_RETRYABLE_FAILURE = "non_retryable_failure"
    TIMEOUT = "timeout"
    MAXIMUM_ATTEMPTS_REACHED = "maximum_attempts_reached"
    RETRY_POLICY_NOT_SET = "retry_policy_not_set"
    CANCEL_REQUESTED = "cancel_requested"


class TimeoutType(StrEnum):
    """Which timeout fired."""

    START_TO_CLOSE = "start_to_close"
    SCHEDULE_TO_START = "schedule_to_start"
    SCHEDULE_TO_CLOSE = "schedule_to_close"
    HEARTBEAT = "heartbeat"


class FailureError(TurnoutError):
    """Base of the errors that can travel between workflow, activity and client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self._failure: Failure | None = None

    @property
    def cause(self) -> BaseException | None:
        """The error that caused this one (``__cause__``)."""
        return self.__cause__

    @property
    def failure(self) -> Failure | None:
        """The failure this error was rebuilt from when it crossed a boundary (from an
        activity, a child or a workflow to its caller), with its ``stack_trace``; None for
        an error raised in this process."""
        return self._failure


class ApplicationError(FailureError):
    """An error raised by user code, with a type name, details and a retry flag."""

    def __init__(
        self,
        message: str,
        *details: Any,
        type: str | None = None,
        non_retryable: bool = False,
        next_retry_delay: timedelta | None = None,
    ) -> None:
        super().__init__(message)
        self.details: Sequence[Any] = details
        self.type = type
        self.non_retryable = non_retryable
        self.next_retry_delay = next_retry_delay


class CancelledError(FailureError):
    """The work was canceled (the workflow, an activity or a child)."""

    def __init__(self, message: str = "canceled", *details: Any) -> None:
        super().__init__(message)
        self.details: Sequence[Any] = details


class TerminatedError(FailureError):
    """The workflow was terminated."""

    def __init__(self, message: str = "terminated", *details: Any) -> None:
        super().__init__(message)
        self.details: Sequence[Any] = details


class TimeoutError(FailureError):
    """A timeout fired (start-to-close, schedule-to-close, heartbeat...)."""

    def __init__(
        self,
        message: str,
        *,
        type: TimeoutType | None,
        last_heartbeat_details: Sequence[Any] = (),
    ) -> None:
        super().__init__(message)
        self.type = type
        self.last_heartbeat_details = last_heartbeat_details


class ActivityError(FailureError):
    """An activity failed; ``cause`` holds why (application error, timeout, cancel)."""

    def __init__(
        self,
        message: str,
        *,
        activity_type: str,
        activity_id: str,
        retry_state: RetryState | None = None,
    ) -> None:
        super().__init__(message)
        self.activity_type = activity_type
        self.activity_id = activity_id
        self.retry_state = retry_state


class ChildWorkflowError(FailureError):
    """A child workflow failed; ``cause`` holds why."""

    def __init__(
        self,
        message: str,
        *,
        workflow_id: str,
        run_id: str,
        workflow_type: str,
        retry_state: RetryState | None = None,
    ) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.workflow_type = workflow_type
        self.retry_state = retry_state


class WorkflowContinuedAsNewError(TurnoutError):
    """Raised by ``handle.result(follow_runs=False)`` when the run continued as new (as
    temporalio's): the next run is ``new_execution_run_id``."""

    def __init__(self, new_execution_run_id: str) -> None:
        super().__init__("Workflow continued as new")
        self.new_execution_run_id = new_execution_run_id


class WorkflowFailureError(TurnoutError):
    """Raised by ``handle.result()`` when the workflow did not complete; see ``cause``."""

    def __init__(self, *, cause: BaseException) -> None:
        super().__init__("Workflow execution failed")
        self.__cause__ = cause

    @property
    def cause(self) -> BaseException:
        """Why the workflow failed: an ApplicationError, ActivityError, CancelledError..."""
        assert self.__cause__ is not None
        return self.__cause__


class Failure(BaseModel):
    """The portable, JSON form of an error and its cause chain."""

    model_config = ConfigDict(frozen=True)

    kind: str
    """One of: application, activity, child_workflow, timeout, canceled, terminated, server."""
    message: str
    type: str | None = None
    non_retryable: bool = False
    details: list[Any] = []
    stack_trace: str | None = None
    attributes: dict[str, Any] = {}
    cause: Failure | None = None


def failure_from_exception(exc: BaseException, *, with_stack: bool = True) -> Failure:
    """Turn an exception (and its ``__cause__`` chain) into a :class:`Failure`."""
    cause = exc.__cause__
    cause_failure = failure_from_exception(cause, with_stack=with_stack) if cause else None
    stack = _stack_of(exc) if with_stack else None
    match exc:
        case ApplicationError():
            return Failure(
                kind="application",
                message=exc.message,
                type=exc.type or type(exc).__name__,
                non_retryable=exc.non_retryable,
                details=list(exc.details),
                stack_trace=stack,
                attributes=(
                    {"next_retry_delay": exc.next_retry_delay.total_seconds()}
                    if exc.next_retry_delay is not None
                    else {}
                ),
                cause=cause_failure,
            )
        case ActivityError():
            return Failure(
                kind="activity",
                message=exc.message,
                attributes={
                    "activity_type": exc.activity_type,
                    "activity_id": exc.activity_id,
                    "retry_state": exc.retry_state,
                },
                cause=cause_failure,
            )
        case ChildWorkflowError():
            return Failure(
                kind="child_workflow",
                message=exc.message,
                attributes={
                    "workflow_id": exc.workflow_id,
                    "run_id": exc.run_id,
                    "workflow_type": exc.workflow_type,
                    "retry_state": exc.retry_state,
                },
                cause=cause_failure,
            )
        case TimeoutError():
            return Failure(
                kind="timeout",
                message=exc.message,
                type=exc.type,
                details=list(exc.last_heartbeat_details),
                cause=cause_failure,
            )
        case CancelledError() | asyncio.CancelledError():
            details = list(getattr(exc, "details", ()))
            return Failure(
                kind="canceled",
                message=str(exc) or "canceled",
                details=details,
                cause=cause_failure,
            )
        case TerminatedError():
            return Failure(
                kind="terminated",
                message=exc.message,
                details=list(exc.details),
                cause=cause_failure,
            )
        case _:
            return Failure(
                kind="application",
                message=str(exc),
                type=type(exc).__name__,
                stack_trace=stack,
                cause=cause_failure,
            )


def _stack_of(exc: BaseException) -> str:
    """Where ``exc`` was raised: an error that crossed a boundary and is raised on keeps the
    stack trace of where it was first raised (as Temporal keeps the failure it received)."""
    carried = exc.failure if isinstance(exc, FailureError) else None
    if carried is not None and carried.stack_trace:
        return carried.stack_trace
    return "".join(traceback.format_exception(exc))


def exception_from_failure(failure: Failure) -> FailureError:
    """Rebuild the exception chain a :class:`Failure` describes."""
    exc: FailureError
    attrs = failure.attributes
    match failure.kind:
        case "activity":
            exc = ActivityError(
                failure.message,
                activity_type=attrs.get("activity_type", ""),
                activity_id=attrs.get("activity_id", ""),
                retry_state=RetryState(attrs["retry_state"]) if attrs.get("retry_state") else None,
            )
        case "child_workflow":
            exc = ChildWorkflowError(
                failure.message,
                workflow_id=attrs.get("workflow_id", ""),
                run_id=attrs.get("run_id", ""),
                workflow_type=attrs.get("workflow_type", ""),
                retry_state=RetryState(attrs["retry_state"]) if attrs.get("retry_state") else None,
            )
        case "timeout":
            exc = TimeoutError(
                failure.message,
                type=TimeoutType(failure.type) if failure.type else None,
                last_heartbeat_details=failure.details,
            )
        case "canceled":
            exc = CancelledError(failure.message, *failure.details)
        case "terminated":
            exc = TerminatedError(failure.message, *failure.details)
        case _:
            delay = attrs.get("next_retry_delay")
            exc = ApplicationError(
                failure.message,
                *failure.details,
                type=failure.type,
                non_retryable=failure.non_retryable,
                next_retry_delay=timedelta(seconds=delay) if delay is not None else None,
            )
    if failure.cause is not None:
        exc.__cause__ = exception_from_failure(failure.cause)
    exc._failure = failure
    return exc


def error_line(exc: BaseException) -> str:
    """``Type: first line of its message``, for a log line or a reason; an error that wraps
    a driver's (``orig``, as SQLAlchemy's do) is told by the driver's own."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"
