"""Failures: exceptions to portable Failure records and back, cause chains included."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TypeVar

import pytest

from turnout.contracts import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    Failure,
    FailureError,
    RetryState,
    TerminatedError,
    TimeoutError,
    TimeoutType,
    TurnoutError,
    WorkflowFailureError,
    exception_from_failure,
    failure_from_exception,
)

E = TypeVar("E", bound=BaseException)


def _raised(exc: E) -> E:
    """``exc`` after a real raise, so it carries a traceback like production errors do."""
    try:
        raise exc
    except BaseException as caught:
        return caught  # type: ignore[return-value]


def _json_round_trip(failure: Failure) -> Failure:
    return Failure.model_validate_json(failure.model_dump_json())


def test_application_error_round_trips() -> None:
    original = _raised(
        ApplicationError(
            "card declined",
            "o-1",
            {"amount": 12.5},
            type="CardDeclined",
            non_retryable=True,
            next_retry_delay=timedelta(seconds=30),
        )
    )
    failure = _json_round_trip(failure_from_exception(original))
    assert failure.kind == "application"
    assert failure.type == "CardDeclined"
    assert failure.non_retryable is True
    assert failure.details == ["o-1", {"amount": 12.5}]
    assert failure.stack_trace is not None
    assert "card declined" in failure.stack_trace

    rebuilt = exception_from_failure(failure)
    assert isinstance(rebuilt, ApplicationError)
    assert rebuilt.message == "card declined"
    assert rebuilt.type == "CardDeclined"
    assert rebuilt.non_retryable is True
    assert list(rebuilt.details) == ["o-1", {"amount": 12.5}]
    assert rebuilt.next_retry_delay == timedelta(seconds=30)
    assert rebuilt.cause is None


def test_application_error_without_type_takes_the_class_name() -> None:
    failure = failure_from_exception(ApplicationError("nope"))
    assert failure.type == "ApplicationError"
    assert failure.non_retryable is False
    assert failure.attributes == {}


def test_activity_error_cause_chain_round_trips() -> None:
    root = ApplicationError("socket closed", type="ConnectionReset")
    timeout = TimeoutError(
        "activity timed out", type=TimeoutType.HEARTBEAT, last_heartbeat_details=[{"row": 41}]
    )
    timeout.__cause__ = root
    activity = ActivityError(
        "activity failed",
        activity_type="charge",
        activity_id="3",
        retry_state=RetryState.MAXIMUM_ATTEMPTS_REACHED,
    )
    activity.__cause__ = timeout

    failure = _json_round_trip(failure_from_exception(activity))
    assert failure.kind == "activity"
    assert failure.attributes == {
        "activity_type": "charge",
        "activity_id": "3",
        "retry_state": "maximum_attempts_reached",
    }
    assert failure.cause is not None
    assert failure.cause.kind == "timeout"
    assert failure.cause.type == "heartbeat"
    assert failure.cause.cause is not None
    assert failure.cause.cause.type == "ConnectionReset"
    assert failure.cause.cause.cause is None

    rebuilt = exception_from_failure(failure)
    assert isinstance(rebuilt, ActivityError)
    assert rebuilt.activity_type == "charge"
    assert rebuilt.activity_id == "3"
    assert rebuilt.retry_state is RetryState.MAXIMUM_ATTEMPTS_REACHED
    rebuilt_timeout = rebuilt.cause
    assert isinstance(rebuilt_timeout, TimeoutError)
    assert rebuilt_timeout.type is TimeoutType.HEARTBEAT
    assert list(rebuilt_timeout.last_heartbeat_details) == [{"row": 41}]
    rebuilt_root = rebuilt_timeout.cause
    assert isinstance(rebuilt_root, ApplicationError)
    assert rebuilt_root.message == "socket closed"
    assert rebuilt_root.type == "ConnectionReset"
    assert rebuilt_root.cause is None


def test_child_workflow_error_round_trips() -> None:
    child = ChildWorkflowError(
        "child failed",
        workflow_id="ship-o-1",
        run_id="r-9",
        workflow_type="Ship",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    child.__cause__ = ApplicationError("no stock", type="OutOfStock", non_retryable=True)
    rebuilt = exception_from_failure(_json_round_trip(failure_from_exception(child)))
    assert isinstance(rebuilt, ChildWorkflowError)
    assert (rebuilt.workflow_id, rebuilt.run_id, rebuilt.workflow_type) == (
        "ship-o-1",
        "r-9",
        "Ship",
    )
    assert rebuilt.retry_state is RetryState.NON_RETRYABLE_FAILURE
    assert isinstance(rebuilt.cause, ApplicationError)
    assert rebuilt.cause.non_retryable is True


def test_turnout_cancelled_error_round_trips() -> None:
    failure = _json_round_trip(failure_from_exception(CancelledError("stop", "why")))
    assert failure.kind == "canceled"
    assert failure.message == "stop"
    assert failure.details == ["why"]
    rebuilt = exception_from_failure(failure)
    assert isinstance(rebuilt, CancelledError)
    assert rebuilt.message == "stop"
    assert list(rebuilt.details) == ["why"]


def test_asyncio_cancelled_error_becomes_a_canceled_failure() -> None:
    failure = _json_round_trip(failure_from_exception(asyncio.CancelledError()))
    assert failure.kind == "canceled"
    assert failure.message == "canceled"
    rebuilt = exception_from_failure(failure)
    assert isinstance(rebuilt, CancelledError)


def test_terminated_error_round_trips() -> None:
    rebuilt = exception_from_failure(
        _json_round_trip(failure_from_exception(TerminatedError("by operator", "ticket-7")))
    )
    assert isinstance(rebuilt, TerminatedError)
    assert rebuilt.message == "by operator"
    assert list(rebuilt.details) == ["ticket-7"]


def test_plain_exception_keeps_its_type_name() -> None:
    failure = _json_round_trip(failure_from_exception(_raised(ValueError("bad order id"))))
    assert failure.kind == "application"
    assert failure.type == "ValueError"
    assert failure.message == "bad order id"
    assert failure.non_retryable is False
    assert failure.stack_trace is not None
    assert "ValueError: bad order id" in failure.stack_trace

    rebuilt = exception_from_failure(failure)
    assert isinstance(rebuilt, ApplicationError)
    assert rebuilt.type == "ValueError"
    assert rebuilt.message == "bad order id"


def test_explicit_cause_of_a_plain_exception_is_kept() -> None:
    outer = KeyError("sku")
    outer.__cause__ = ValueError("inner")
    failure = failure_from_exception(outer)
    assert failure.type == "KeyError"
    assert failure.cause is not None
    assert failure.cause.type == "ValueError"


def test_stack_trace_can_be_left_out() -> None:
    failure = failure_from_exception(_raised(ValueError("x")), with_stack=False)
    assert failure.stack_trace is None


def test_failure_json_round_trips() -> None:
    failure = Failure(
        kind="activity",
        message="activity failed",
        attributes={"activity_type": "charge", "activity_id": "1", "retry_state": "timeout"},
        cause=Failure(
            kind="application",
            message="boom",
            type="Boom",
            non_retryable=True,
            details=[1, "two", {"three": [3]}],
            stack_trace="Traceback ...",
        ),
    )
    text = failure.model_dump_json()
    assert Failure.model_validate_json(text) == failure


def test_failure_is_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        Failure(kind="application", message="m").message = "n"  # type: ignore[misc]


def test_workflow_failure_error_exposes_its_cause() -> None:
    cause = ApplicationError("declined", type="CardDeclined")
    error = WorkflowFailureError(cause=cause)
    assert error.cause is cause
    assert error.__cause__ is cause
    assert isinstance(error, TurnoutError)
    assert not isinstance(error, FailureError)


def test_workflow_failure_error_raises_with_the_chain() -> None:
    rebuilt = exception_from_failure(
        failure_from_exception(ActivityError("failed", activity_type="a", activity_id="1"))
    )
    with pytest.raises(WorkflowFailureError) as info:
        raise WorkflowFailureError(cause=rebuilt)
    assert isinstance(info.value.cause, ActivityError)


def test_failure_errors_share_a_base() -> None:
    for exc in (
        ApplicationError("a"),
        CancelledError(),
        TerminatedError(),
        TimeoutError("t", type=None),
        ActivityError("a", activity_type="x", activity_id="1"),
        ChildWorkflowError("c", workflow_id="w", run_id="r", workflow_type="T"),
    ):
        assert isinstance(exc, FailureError)
        assert isinstance(exc, TurnoutError)
