"""The append-only event timeline of a run.

Every state transition of a run and of its queue items appends one
:class:`Event`; ``(run_id, seq)`` is unique and ``seq`` starts at 1. Event type
names follow Temporal's history where one exists; docs/contracts.md maps each
type to its Temporal counterpart.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["COMMAND_EVENT_TYPES", "INBOUND_EVENT_TYPES", "Event", "EventType"]


class EventType(StrEnum):
    """The kinds of events on a run's timeline."""

    # workflow lifecycle
    WORKFLOW_STARTED = "workflow_started"
    WORKFLOW_COMPLETED = "workflow_completed"
    WORKFLOW_FAILED = "workflow_failed"
    WORKFLOW_CANCELED = "workflow_canceled"
    WORKFLOW_TERMINATED = "workflow_terminated"
    WORKFLOW_TIMED_OUT = "workflow_timed_out"
    WORKFLOW_CONTINUED_AS_NEW = "workflow_continued_as_new"
    WORKFLOW_CANCEL_REQUESTED = "workflow_cancel_requested"
    WORKFLOW_TASK_COMPLETED = "workflow_task_completed"
    WORKFLOW_TASK_FAILED = "workflow_task_failed"
    WORKFLOW_PROPERTIES_MODIFIED = "workflow_properties_modified"
    UPSERT_WORKFLOW_SEARCH_ATTRIBUTES = "upsert_workflow_search_attributes"
    # activities
    ACTIVITY_SCHEDULED = "activity_scheduled"
    ACTIVITY_STARTED = "activity_started"
    ACTIVITY_COMPLETED = "activity_completed"
    ACTIVITY_FAILED = "activity_failed"
    ACTIVITY_TIMED_OUT = "activity_timed_out"
    ACTIVITY_CANCEL_REQUESTED = "activity_cancel_requested"
    ACTIVITY_CANCELED = "activity_canceled"
    # timers
    TIMER_STARTED = "timer_started"
    TIMER_FIRED = "timer_fired"
    TIMER_CANCELED = "timer_canceled"
    # messages
    SIGNAL_RECEIVED = "signal_received"
    WORKFLOW_UPDATE_ACCEPTED = "workflow_update_accepted"
    WORKFLOW_UPDATE_COMPLETED = "workflow_update_completed"
    # children
    CHILD_WORKFLOW_STARTED = "child_workflow_started"
    CHILD_WORKFLOW_COMPLETED = "child_workflow_completed"
    CHILD_WORKFLOW_FAILED = "child_workflow_failed"
    CHILD_WORKFLOW_CANCELED = "child_workflow_canceled"
    CHILD_WORKFLOW_TERMINATED = "child_workflow_terminated"
    CHILD_WORKFLOW_TIMED_OUT = "child_workflow_timed_out"
    # other workflows (external handles)
    SIGNAL_EXTERNAL_WORKFLOW_INITIATED = "signal_external_workflow_initiated"
    EXTERNAL_WORKFLOW_SIGNALED = "external_workflow_signaled"
    SIGNAL_EXTERNAL_WORKFLOW_FAILED = "signal_external_workflow_failed"
    REQUEST_CANCEL_EXTERNAL_WORKFLOW_INITIATED = "request_cancel_external_workflow_initiated"
    EXTERNAL_WORKFLOW_CANCEL_REQUESTED = "external_workflow_cancel_requested"
    REQUEST_CANCEL_EXTERNAL_WORKFLOW_FAILED = "request_cancel_external_workflow_failed"
    # patches / versioning
    MARKER_RECORDED = "marker_recorded"
    # turnout's own (queue, governance)
    STATE_CHANGED = "state_changed"
    LEASE_EXPIRED = "lease_expired"
    RETRY_SCHEDULED = "retry_scheduled"
    DEAD_LETTERED = "dead_lettered"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_DECIDED = "approval_decided"
    POLICY_DECIDED = "policy_decided"
    ARTIFACT_RECORDED = "artifact_recorded"


INBOUND_EVENT_TYPES: frozenset[EventType] = frozenset(
    {
        EventType.WORKFLOW_STARTED,
        EventType.WORKFLOW_CANCEL_REQUESTED,
        EventType.ACTIVITY_COMPLETED,
        EventType.ACTIVITY_FAILED,
        EventType.ACTIVITY_TIMED_OUT,
        EventType.ACTIVITY_CANCELED,
        EventType.TIMER_FIRED,
        EventType.SIGNAL_RECEIVED,
        EventType.CHILD_WORKFLOW_COMPLETED,
        EventType.CHILD_WORKFLOW_FAILED,
        EventType.CHILD_WORKFLOW_CANCELED,
        EventType.CHILD_WORKFLOW_TERMINATED,
        EventType.CHILD_WORKFLOW_TIMED_OUT,
        EventType.EXTERNAL_WORKFLOW_SIGNALED,
        EventType.SIGNAL_EXTERNAL_WORKFLOW_FAILED,
        EventType.EXTERNAL_WORKFLOW_CANCEL_REQUESTED,
        EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_FAILED,
        EventType.APPROVAL_DECIDED,
    }
)
"""Events a workflow reacts to: replay delivers them to the workflow code."""

COMMAND_EVENT_TYPES: frozenset[EventType] = frozenset(
    {
        EventType.ACTIVITY_SCHEDULED,
        EventType.ACTIVITY_CANCEL_REQUESTED,
        EventType.TIMER_STARTED,
        EventType.TIMER_CANCELED,
        EventType.CHILD_WORKFLOW_STARTED,
        EventType.SIGNAL_EXTERNAL_WORKFLOW_INITIATED,
        EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_INITIATED,
        EventType.MARKER_RECORDED,
        EventType.WORKFLOW_PROPERTIES_MODIFIED,
        EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        EventType.APPROVAL_REQUESTED,
        EventType.WORKFLOW_COMPLETED,
        EventType.WORKFLOW_FAILED,
        EventType.WORKFLOW_CANCELED,
        EventType.WORKFLOW_CONTINUED_AS_NEW,
        EventType.WORKFLOW_UPDATE_ACCEPTED,
        EventType.WORKFLOW_UPDATE_COMPLETED,
    }
)
"""Events the workflow code caused: replay checks the code still causes them, in order."""


class Event(BaseModel):
    """One entry of a run's append-only timeline."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    workflow_id: str
    seq: int
    type: EventType
    at: datetime
    correlation_id: str
    tenant_id: str = "default"
    attributes: dict[str, Any] = {}
