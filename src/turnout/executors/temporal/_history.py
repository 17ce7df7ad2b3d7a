"""Temporal history events as turnout contract events (same types, order and correlation id)."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from temporalio.api.enums.v1 import EventType as T
from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent

from turnout.contracts.events import Event, EventType

__all__ = ["map_history"]

WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR = (
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
)

_SIMPLE: dict[int, EventType] = {
    T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: EventType.WORKFLOW_STARTED,
    T.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: EventType.WORKFLOW_COMPLETED,
    T.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: EventType.WORKFLOW_FAILED,
    T.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: EventType.WORKFLOW_CANCELED,
    T.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: EventType.WORKFLOW_TERMINATED,
    T.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: EventType.WORKFLOW_TIMED_OUT,
    T.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: EventType.WORKFLOW_CONTINUED_AS_NEW,
    T.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED: EventType.WORKFLOW_CANCEL_REQUESTED,
    T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: EventType.WORKFLOW_TASK_COMPLETED,
    T.EVENT_TYPE_WORKFLOW_TASK_FAILED: EventType.WORKFLOW_TASK_FAILED,
    T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: EventType.ACTIVITY_SCHEDULED,
    T.EVENT_TYPE_ACTIVITY_TASK_STARTED: EventType.ACTIVITY_STARTED,
    T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: EventType.ACTIVITY_COMPLETED,
    T.EVENT_TYPE_ACTIVITY_TASK_FAILED: EventType.ACTIVITY_FAILED,
    T.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: EventType.ACTIVITY_TIMED_OUT,
    T.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED: EventType.ACTIVITY_CANCEL_REQUESTED,
    T.EVENT_TYPE_ACTIVITY_TASK_CANCELED: EventType.ACTIVITY_CANCELED,
    T.EVENT_TYPE_TIMER_STARTED: EventType.TIMER_STARTED,
    T.EVENT_TYPE_TIMER_FIRED: EventType.TIMER_FIRED,
    T.EVENT_TYPE_TIMER_CANCELED: EventType.TIMER_CANCELED,
    T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: EventType.SIGNAL_RECEIVED,
    T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: EventType.CHILD_WORKFLOW_STARTED,
    T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: EventType.CHILD_WORKFLOW_COMPLETED,
    T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED: EventType.CHILD_WORKFLOW_FAILED,
    T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: EventType.CHILD_WORKFLOW_CANCELED,
    T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: EventType.CHILD_WORKFLOW_TERMINATED,
    T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: EventType.CHILD_WORKFLOW_TIMED_OUT,
    T.EVENT_TYPE_MARKER_RECORDED: EventType.MARKER_RECORDED,
}

_CLOSING = {
    EventType.WORKFLOW_COMPLETED: "completed",
    EventType.WORKFLOW_FAILED: "failed",
    EventType.WORKFLOW_CANCELED: "canceled",
    EventType.WORKFLOW_TERMINATED: "terminated",
    EventType.WORKFLOW_TIMED_OUT: "timed_out",
    EventType.WORKFLOW_CONTINUED_AS_NEW: "continued_as_new",
}


def _at(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime().replace(tzinfo=UTC)


def _attributes(event: HistoryEvent, scheduled: dict[int, dict[str, Any]]) -> dict[str, Any]:
    t = event.event_type
    if t == T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        started = event.workflow_execution_started_event_attributes
        return {
            "workflow_type": started.workflow_type.name,
            "task_queue": started.task_queue.name,
            "attempt": started.attempt,
            "continued_from_run_id": started.continued_execution_run_id or None,
        }
    if t == T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        sched = event.activity_task_scheduled_event_attributes
        attrs: dict[str, Any] = {
            "activity_id": sched.activity_id,
            "activity_type": sched.activity_type.name,
            "task_queue": sched.task_queue.name,
        }
        scheduled[event.event_id] = attrs
        return dict(attrs)
    if t == T.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        begun = event.activity_task_started_event_attributes
        attrs = {**scheduled.get(begun.scheduled_event_id, {}), "attempt": begun.attempt}
        scheduled[event.event_id] = attrs  # outcomes name their started event
        return dict(attrs)
    for name in (
        "activity_task_completed_event_attributes",
        "activity_task_failed_event_attributes",
        "activity_task_timed_out_event_attributes",
        "activity_task_canceled_event_attributes",
    ):
        if event.HasField(name):
            outcome = getattr(event, name)
            return dict(
                scheduled.get(outcome.started_event_id)
                or scheduled.get(outcome.scheduled_event_id, {})
            )
    if event.HasField("activity_task_cancel_requested_event_attributes"):
        requested = event.activity_task_cancel_requested_event_attributes
        return dict(scheduled.get(requested.scheduled_event_id, {}))
    if t == T.EVENT_TYPE_TIMER_STARTED:
        timer = event.timer_started_event_attributes
        return {
            "timer_id": timer.timer_id,
            "duration": timer.start_to_fire_timeout.ToTimedelta().total_seconds(),
        }
    if t == T.EVENT_TYPE_TIMER_FIRED:
        return {"timer_id": event.timer_fired_event_attributes.timer_id}
    if t == T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        return {"name": event.workflow_execution_signaled_event_attributes.signal_name}
    if t == T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        child = event.start_child_workflow_execution_initiated_event_attributes
        return {"workflow_id": child.workflow_id, "workflow_type": child.workflow_type.name}
    if t == T.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
        return {"reason": event.workflow_execution_terminated_event_attributes.reason}
    if t == T.EVENT_TYPE_MARKER_RECORDED:
        return _marker(event)
    if t == T.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        failed = event.workflow_task_failed_event_attributes
        nondeterministic = failed.cause == WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
        return {
            "failure": {
                "kind": "application",
                "type": "NonDeterminismError" if nondeterministic else "WorkflowTaskFailed",
                "message": failed.failure.message,
            }
        }
    return {}


def _marker(event: HistoryEvent) -> dict[str, Any]:
    """A patch marker's id (Temporal keeps it JSON-encoded in the marker details)."""
    marker = event.marker_recorded_event_attributes
    attrs: dict[str, Any] = {"marker": marker.marker_name}
    for payloads in marker.details.values():
        for payload in payloads.payloads:
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                data = json.loads(payload.data)
                if isinstance(data, dict) and "id" in data:
                    attrs["patch_id"] = data["id"]
                    attrs["marker"] = "patch"
    return attrs


def map_history(
    events: list[HistoryEvent], *, run_id: str, workflow_id: str, correlation_id: str
) -> list[Event]:
    """The contract timeline of a Temporal history: mapped events, seq from 1, plus
    ``state_changed`` when the first workflow task starts and when the run closes."""
    out: list[Event] = []
    scheduled: dict[int, dict[str, Any]] = {}
    running = False

    def add(etype: EventType, at: datetime, attributes: dict[str, Any]) -> None:
        out.append(
            Event(
                run_id=run_id,
                workflow_id=workflow_id,
                seq=len(out) + 1,
                type=etype,
                at=at,
                correlation_id=correlation_id,
                attributes=attributes,
            )
        )

    for event in events:
        if event.event_type == T.EVENT_TYPE_WORKFLOW_TASK_STARTED and not running:
            running = True
            add(EventType.STATE_CHANGED, _at(event), {"from": "queued", "to": "running"})
            continue
        etype = _SIMPLE.get(event.event_type)
        if etype is None:
            continue
        add(etype, _at(event), _attributes(event, scheduled))
        if etype in _CLOSING:
            previous = "running" if running else "queued"
            add(EventType.STATE_CHANGED, _at(event), {"from": previous, "to": _CLOSING[etype]})
    return out
