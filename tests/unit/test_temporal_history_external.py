"""The Temporal history of external workflow handles maps to turnout's event types; the
external cancel request temporalio sends to cancel a child stays off the parent's timeline,
as on the internal executor."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("temporalio")

from temporalio.api.enums.v1 import (
    CancelExternalWorkflowExecutionFailedCause,
    SignalExternalWorkflowExecutionFailedCause,
)
from temporalio.api.enums.v1 import EventType as T
from temporalio.api.history.v1 import HistoryEvent

from turnout.executors.temporal._history import map_history


def _event(event_id: int, event_type: int, field: str | None = None, **values: Any) -> HistoryEvent:
    event = HistoryEvent(event_id=event_id, event_type=event_type)
    if field is not None:
        getattr(event, field).MergeFrom(type(getattr(event, field))(**values))
    return event


def _mapped(*events: HistoryEvent) -> list[tuple[str, dict[str, Any]]]:
    timeline = map_history(list(events), run_id="r", workflow_id="w", correlation_id="c")
    return [(e.type.value, e.attributes) for e in timeline]


def test_signals_and_cancel_requests_of_other_workflows_are_mapped() -> None:
    target = {"workflow_id": "mailbox", "run_id": ""}
    signal_cause = SignalExternalWorkflowExecutionFailedCause.Value(
        "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND"
    )
    cancel_cause = CancelExternalWorkflowExecutionFailedCause.Value(
        "CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND"
    )
    assert _mapped(
        _event(
            5,
            T.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
            "signal_external_workflow_execution_initiated_event_attributes",
            workflow_execution=target,
            signal_name="post",
        ),
        _event(
            6,
            T.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED,
            "external_workflow_execution_signaled_event_attributes",
            workflow_execution={"workflow_id": "mailbox", "run_id": "run-1"},
            initiated_event_id=5,
        ),
        _event(
            7,
            T.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
            "signal_external_workflow_execution_failed_event_attributes",
            workflow_execution=target,
            cause=signal_cause,
        ),
        _event(
            8,
            T.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
            "request_cancel_external_workflow_execution_initiated_event_attributes",
            workflow_execution=target,
        ),
        _event(
            9,
            T.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
            "external_workflow_execution_cancel_requested_event_attributes",
            workflow_execution=target,
            initiated_event_id=8,
        ),
        _event(
            10,
            T.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
            "request_cancel_external_workflow_execution_failed_event_attributes",
            workflow_execution=target,
            cause=cancel_cause,
        ),
    ) == [
        (
            "signal_external_workflow_initiated",
            {"workflow_id": "mailbox", "run_id": None, "name": "post"},
        ),
        ("external_workflow_signaled", {"workflow_id": "mailbox", "run_id": "run-1"}),
        (
            "signal_external_workflow_failed",
            {"workflow_id": "mailbox", "run_id": None, "cause": "external_workflow_not_found"},
        ),
        ("request_cancel_external_workflow_initiated", {"workflow_id": "mailbox", "run_id": None}),
        ("external_workflow_cancel_requested", {"workflow_id": "mailbox", "run_id": None}),
        (
            "request_cancel_external_workflow_failed",
            {"workflow_id": "mailbox", "run_id": None, "cause": "external_workflow_not_found"},
        ),
    ]


def test_a_childs_cancellation_stays_off_the_parents_timeline() -> None:
    child = {"workflow_id": "kid", "run_id": "run-2"}
    assert (
        _mapped(
            _event(
                15,
                T.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
                "request_cancel_external_workflow_execution_initiated_event_attributes",
                workflow_execution=child,
                child_workflow_only=True,
            ),
            _event(
                16,
                T.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
                "external_workflow_execution_cancel_requested_event_attributes",
                workflow_execution=child,
                initiated_event_id=15,
            ),
        )
        == []
    )
