"""Temporal history events as turnout contract events (same types, order and correlation id)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from temporalio.api.enums.v1 import (
    CancelExternalWorkflowExecutionFailedCause,
    SignalExternalWorkflowExecutionFailedCause,
    WorkflowTaskFailedCause,
)
from temporalio.api.enums.v1 import EventType as T
from temporalio.api.history.v1 import HistoryEvent

from turnout.contracts.events import Event, EventType
from turnout.contracts.records import DEFAULT_TENANT, DecisionOutcome
from turnout.executors.temporal._governance import (
    ADMISSION_ACTIVITY,
    APPROVAL_SIGNAL,
    ARTIFACT_SIGNAL,
    POLICY_SIGNAL,
)
from turnout.executors.temporal._memo import (
    approvals_change,
    json_value,
    started_memo,
    upserted_memo,
)
from turnout.executors.temporal._search import started_search_attributes, upserted_search_attributes

__all__ = ["LOCAL_ACTIVITY_MARKER", "local_activity_type", "map_history"]

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
    T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: EventType.WORKFLOW_UPDATE_ACCEPTED,
    T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED: EventType.WORKFLOW_UPDATE_COMPLETED,
    T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: EventType.CHILD_WORKFLOW_STARTED,
    T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: EventType.CHILD_WORKFLOW_COMPLETED,
    T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED: EventType.CHILD_WORKFLOW_FAILED,
    T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: EventType.CHILD_WORKFLOW_CANCELED,
    T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: EventType.CHILD_WORKFLOW_TERMINATED,
    T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: EventType.CHILD_WORKFLOW_TIMED_OUT,
    T.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: (
        EventType.SIGNAL_EXTERNAL_WORKFLOW_INITIATED
    ),
    T.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED: EventType.EXTERNAL_WORKFLOW_SIGNALED,
    T.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED: (
        EventType.SIGNAL_EXTERNAL_WORKFLOW_FAILED
    ),
    T.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: (
        EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_INITIATED
    ),
    T.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED: (
        EventType.EXTERNAL_WORKFLOW_CANCEL_REQUESTED
    ),
    T.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED: (
        EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_FAILED
    ),
    T.EVENT_TYPE_MARKER_RECORDED: EventType.MARKER_RECORDED,
}

_EXTERNAL: dict[str, Any] = {
    "signal_external_workflow_execution_initiated_event_attributes": None,
    "external_workflow_execution_signaled_event_attributes": None,
    "signal_external_workflow_execution_failed_event_attributes": (
        SignalExternalWorkflowExecutionFailedCause
    ),
    "request_cancel_external_workflow_execution_initiated_event_attributes": None,
    "external_workflow_execution_cancel_requested_event_attributes": None,
    "request_cancel_external_workflow_execution_failed_event_attributes": (
        CancelExternalWorkflowExecutionFailedCause
    ),
}
"""The attributes of the events of external workflow handles, with the enum of their
failure's cause (None: the event has no cause)."""

LOCAL_ACTIVITY_MARKER = "core_local_activity"
"""Temporal's marker of a local activity (turnout runs one: asking the start policies)."""

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
            **started_memo(started.memo),
            **started_search_attributes(started),
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
            attrs = dict(
                scheduled.get(outcome.started_event_id)
                or scheduled.get(outcome.scheduled_event_id, {})
            )
            if "failure" in outcome.DESCRIPTOR.fields_by_name and outcome.HasField("failure"):
                attrs["failure"] = _failure(outcome.failure)
            return attrs
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
    if t == T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        return {"update_id": request.meta.update_id, "name": request.input.name}
    if t == T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
        completed = event.workflow_execution_update_completed_event_attributes
        done: dict[str, Any] = {"update_id": completed.meta.update_id}
        if completed.outcome.HasField("failure"):
            failure = completed.outcome.failure
            done["failure"] = {"kind": "application", "message": failure.message}
        return done
    if t == T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        child = event.start_child_workflow_execution_initiated_event_attributes
        return {"workflow_id": child.workflow_id, "workflow_type": child.workflow_type.name}
    if t == T.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
        return {"reason": event.workflow_execution_terminated_event_attributes.reason}
    if t == T.EVENT_TYPE_MARKER_RECORDED:
        return _marker(event)
    which = event.WhichOneof("attributes")
    if which in _EXTERNAL:
        return _external(getattr(event, which), _EXTERNAL[which])
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


def _external(attributes: Any, causes: Any) -> dict[str, Any]:
    """An external handle's event: its target, the signal's name, the failure's cause
    (Temporal's, in lower case without its prefix and ``execution``)."""
    target = attributes.workflow_execution
    attrs: dict[str, Any] = {"workflow_id": target.workflow_id, "run_id": target.run_id or None}
    if hasattr(attributes, "signal_name"):
        attrs["name"] = attributes.signal_name
    if causes is not None:
        cause = causes.Name(attributes.cause).partition("_CAUSE_")[2]
        attrs["cause"] = cause.lower().replace("_execution", "")
    return attrs


def _child_cancel(event: HistoryEvent, child_cancels: set[int]) -> bool:
    """Is ``event`` part of a child's cancellation? temporalio cancels a child with an
    external cancel request of the child only; the internal executor records a child's
    cancellation on the child, so the parent's events of it are dropped."""
    if event.HasField("request_cancel_external_workflow_execution_initiated_event_attributes"):
        initiated = event.request_cancel_external_workflow_execution_initiated_event_attributes
        if initiated.child_workflow_only:
            child_cancels.add(event.event_id)
        return bool(initiated.child_workflow_only)
    for name in (
        "external_workflow_execution_cancel_requested_event_attributes",
        "request_cancel_external_workflow_execution_failed_event_attributes",
    ):
        if event.HasField(name):
            return getattr(event, name).initiated_event_id in child_cancels
    return False


def _failure(failure: Any) -> dict[str, Any]:
    """A Temporal failure as turnout's failure record (type and message, causes nested)."""
    record: dict[str, Any] = {
        "kind": "application",
        "type": failure.application_failure_info.type or None,
        "message": failure.message,
    }
    if failure.HasField("cause"):
        record["cause"] = _failure(failure.cause)
    return record


def _admission_decision(event: HistoryEvent) -> dict[str, Any] | None:
    """The start policies' decision, from the result of the local activity that asked them."""
    result = event.marker_recorded_event_attributes.details.get("result")
    if result is None:
        return None
    for payload in result.payloads:
        value = json_value(payload)
        if isinstance(value, dict) and isinstance(value.get("decision"), dict):
            return dict(value["decision"])
    return None


def local_activity_type(event: HistoryEvent) -> str | None:
    """The activity type of a local activity's marker; None for any other event."""
    marker = event.marker_recorded_event_attributes
    if (
        event.event_type != T.EVENT_TYPE_MARKER_RECORDED
        or marker.marker_name != LOCAL_ACTIVITY_MARKER
    ):
        return None
    data = _local_activity_data(event)
    return str(data.get("activity_type", ""))


def _local_activity_data(event: HistoryEvent) -> dict[str, Any]:
    payloads = event.marker_recorded_event_attributes.details.get("data")
    value = json_value(payloads.payloads[0]) if payloads and payloads.payloads else None
    return value if isinstance(value, dict) else {}


def _local_activity(event: HistoryEvent) -> dict[str, Any]:
    """A local activity's marker, with the attributes the internal executor records."""
    marker = event.marker_recorded_event_attributes
    data = _local_activity_data(event)
    attrs: dict[str, Any] = {
        "marker": "local_activity",
        "local_seq": data.get("seq"),
        "activity_type": data.get("activity_type"),
        "activity_id": data.get("activity_id"),
        "attempt": data.get("attempt"),
    }
    if marker.HasField("failure"):
        attrs["failure"] = _failure(marker.failure)
    else:
        result = marker.details.get("result")
        attrs["result"] = json_value(result.payloads[0]) if result and result.payloads else None
    return attrs


def _marker(event: HistoryEvent) -> dict[str, Any]:
    """A patch marker's id (Temporal keeps it JSON-encoded in the marker details), or a
    local activity's outcome."""
    marker = event.marker_recorded_event_attributes
    if marker.marker_name == LOCAL_ACTIVITY_MARKER:
        return _local_activity(event)
    attrs: dict[str, Any] = {"marker": marker.marker_name}
    for payloads in marker.details.values():
        for payload in payloads.payloads:
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                data = json.loads(payload.data)
                if isinstance(data, dict) and "id" in data:
                    attrs["patch_id"] = data["id"]
                    attrs["marker"] = "patch"
    return attrs


def _signal_payload(event: HistoryEvent) -> dict[str, Any] | None:
    payloads = event.workflow_execution_signaled_event_attributes.input.payloads
    value = json_value(payloads[0]) if payloads else None
    return value if isinstance(value, dict) else None


class _Approvals:
    """The mapping's own view of the run's pending approvals, to place ``state_changed``
    running <-> waiting_approval where the pending count leaves and returns to zero."""

    def __init__(self) -> None:
        self.pending: set[str] = set()
        self.resumes_at: datetime | None = None
        """Set when the last pending request was withdrawn (its wait was cancelled): the
        run is running again unless the next event closes it (``waiting_approval`` ->
        ``canceled``, as when it is cancelled while waiting)."""

    @property
    def waiting(self) -> bool:
        """Is the run (still) waiting on an approval?"""
        return bool(self.pending) or self.resumes_at is not None

    def requested(self, name: str) -> bool:
        """Record a request; True when the run starts waiting."""
        first = not self.pending
        self.pending.add(name)
        return first

    def settled(self, name: str) -> bool:
        """Record a decision (or a withdrawn request); True when the run stops waiting."""
        if name not in self.pending:
            return False
        self.pending.discard(name)
        return not self.pending


_DECISION_KEYS = {"decision_id", "name", "outcome", "decided_at"}
_ARTIFACT_KEYS = {"artifact_id", "name", "uri"}
_PERSON_OUTCOMES = {DecisionOutcome.APPROVED.value, DecisionOutcome.REJECTED.value}
_WAITING = {"from": "running", "to": "waiting_approval"}
_RESUMED = {"from": "waiting_approval", "to": "running"}


def map_history(
    events: list[HistoryEvent],
    *,
    run_id: str,
    workflow_id: str,
    correlation_id: str,
    tenant_id: str = DEFAULT_TENANT,
) -> list[Event]:
    """The contract timeline of a Temporal history: mapped events, seq from 1, plus
    ``state_changed`` when the first workflow task starts, when the run starts and stops
    waiting on approvals, and when it closes.

    Governance: a memo upsert of the run's approvals becomes ``approval_requested`` (or
    ``approval_decided`` for a timeout, which the workflow decides itself); the signal
    ``turnout.approval_decided`` becomes ``approval_decided`` when that approval is
    pending (else it stays ``signal_received``); ``turnout.policy_decided`` and
    ``turnout.artifact_recorded`` become ``policy_decided`` and ``artifact_recorded``.
    """
    out: list[Event] = []
    scheduled: dict[int, dict[str, Any]] = {}
    child_cancels: set[int] = set()
    running = False
    approvals = _Approvals()

    def append(etype: EventType, at: datetime, attributes: dict[str, Any]) -> None:
        out.append(
            Event(
                run_id=run_id,
                workflow_id=workflow_id,
                seq=len(out) + 1,
                type=etype,
                at=at,
                correlation_id=correlation_id,
                tenant_id=tenant_id,
                attributes=attributes,
            )
        )

    def add(etype: EventType, at: datetime, attributes: dict[str, Any]) -> None:
        if approvals.resumes_at is not None and etype not in _CLOSING:
            resumed, approvals.resumes_at = approvals.resumes_at, None
            append(EventType.STATE_CHANGED, resumed, dict(_RESUMED))
        append(etype, at, attributes)

    for event in events:
        if event.event_type == T.EVENT_TYPE_WORKFLOW_TASK_STARTED and not running:
            running = True
            add(EventType.STATE_CHANGED, _at(event), {"from": "queued", "to": "running"})
            continue
        if event.event_type == T.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            searchable = upserted_search_attributes(event)
            if searchable:  # not an upsert of the server's own attributes only
                add(EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, _at(event), searchable)
            continue
        if event.event_type == T.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            _map_approvals_change(event, approvals, add)
            upserted = upserted_memo(event)
            if upserted is not None:
                add(EventType.WORKFLOW_PROPERTIES_MODIFIED, _at(event), {"upserted_memo": upserted})
            continue
        if local_activity_type(event) == ADMISSION_ACTIVITY:
            decision = _admission_decision(event)
            if decision is not None:
                add(EventType.POLICY_DECIDED, _at(event), decision)
            continue
        if event.event_type == T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED and _map_governance_signal(
            event, approvals, add
        ):
            continue
        etype = _SIMPLE.get(event.event_type)
        if etype is None or _child_cancel(event, child_cancels):
            continue
        add(etype, _at(event), _attributes(event, scheduled))
        if etype in _CLOSING:
            previous = "running" if running else "queued"
            if approvals.waiting:
                previous = "waiting_approval"
            approvals.resumes_at = None
            add(EventType.STATE_CHANGED, _at(event), {"from": previous, "to": _CLOSING[etype]})
    if approvals.resumes_at is not None:  # withdrawn, and nothing happened since
        append(EventType.STATE_CHANGED, approvals.resumes_at, dict(_RESUMED))
    return out


_Add = Callable[[EventType, datetime, dict[str, Any]], None]


def _map_approvals_change(event: HistoryEvent, approvals: _Approvals, add: _Add) -> None:
    change = approvals_change(event)
    if change is None:
        return
    attrs = {k: v for k, v in change.items() if k != "type"}
    name = str(attrs.get("name", ""))
    at = _at(event)
    if change["type"] == "approval_requested":
        add(EventType.APPROVAL_REQUESTED, at, attrs)
        if approvals.requested(name):
            add(EventType.STATE_CHANGED, at, dict(_WAITING))
    elif change["type"] == "approval_decided":
        # A person's decision was mapped from its signal; only a timeout shows here first.
        if attrs.get("outcome") == DecisionOutcome.TIMED_OUT.value and name in approvals.pending:
            add(EventType.APPROVAL_DECIDED, at, attrs)
            if approvals.settled(name):
                add(EventType.STATE_CHANGED, at, dict(_RESUMED))
    elif change["type"] == "approval_withdrawn" and approvals.settled(name):
        approvals.resumes_at = at


def _map_governance_signal(event: HistoryEvent, approvals: _Approvals, add: _Add) -> bool:
    """Map a built-in governance signal; False when the signal is an ordinary one."""
    name = event.workflow_execution_signaled_event_attributes.signal_name
    if name not in (APPROVAL_SIGNAL, POLICY_SIGNAL, ARTIFACT_SIGNAL):
        return False
    payload = _signal_payload(event)
    if payload is None:
        return False
    at = _at(event)
    if name == ARTIFACT_SIGNAL:
        if not _ARTIFACT_KEYS.issubset(payload):
            return False
        add(EventType.ARTIFACT_RECORDED, at, payload)
        return True
    if not _DECISION_KEYS.issubset(payload):
        return False  # malformed: the workflow ignored it, so it is just a signal
    if name == POLICY_SIGNAL:
        add(EventType.POLICY_DECIDED, at, payload)
    else:
        approval = str(payload["name"])
        if approval not in approvals.pending or payload["outcome"] not in _PERSON_OUTCOMES:
            return False  # the workflow ignored it (as it does), so it is just a signal
        add(EventType.APPROVAL_DECIDED, at, payload)
        if approvals.settled(approval):
            add(EventType.STATE_CHANGED, at, dict(_RESUMED))
    return True
