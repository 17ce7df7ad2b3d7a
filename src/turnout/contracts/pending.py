"""What an open run waits on, as ``describe()`` shows it on every executor: its pending
activities (Temporal's pending-activity view: attempt, state, last failure, next retry,
last heartbeat) and its pending child workflows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from turnout.contracts.errors import Failure
from turnout.contracts.events import Event, EventType

__all__ = [
    "PendingActivity",
    "PendingActivityState",
    "PendingChildWorkflow",
    "PendingSignal",
    "PendingUpdate",
    "since_last_task",
]


class PendingActivityState(StrEnum):
    """Where a pending activity is (Temporal's ``PendingActivityState``)."""

    SCHEDULED = "scheduled"
    """Waiting for a worker: its first attempt, or a retry after its backoff."""
    STARTED = "started"
    """An attempt runs on a worker."""
    CANCEL_REQUESTED = "cancel_requested"
    """The workflow asked it to cancel; it has not stopped yet."""


class PendingActivity(BaseModel):
    """An activity of an open run that has not finished."""

    model_config = ConfigDict(frozen=True)

    activity_id: str
    activity_type: str
    state: PendingActivityState
    attempt: int
    """The attempt running, or the one waiting to run (1 for the first)."""
    maximum_attempts: int = 0
    """The retry policy's limit (0: unlimited)."""
    scheduled_time: datetime | None = None
    last_started_time: datetime | None = None
    last_heartbeat_time: datetime | None = None
    heartbeat_details: list[Any] = []
    last_failure: Failure | None = None
    """Why the previous attempt failed (None on the first attempt)."""
    next_attempt_schedule_time: datetime | None = None
    """When the next attempt may start, while it waits for its retry backoff."""
    last_worker_identity: str | None = None


class PendingChildWorkflow(BaseModel):
    """A child workflow of an open run that has not closed."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    run_id: str
    workflow_type: str


class PendingSignal(BaseModel):
    """A signal the run received that no workflow task has handled yet."""

    model_config = ConfigDict(frozen=True)

    name: str
    received_at: datetime


class PendingUpdate(BaseModel):
    """An update the run accepted whose handler has not returned yet."""

    model_config = ConfigDict(frozen=True)

    update_id: str
    name: str


def since_last_task(
    events: Sequence[Event],
) -> tuple[list[PendingSignal], list[PendingUpdate], str | None]:
    """From a run's timeline: the signals received after its last completed workflow
    task, the updates accepted and not completed, and, when the workflow tasks since
    then all failed, why (the same on every executor, from the executor's events)."""
    last = max((e.seq for e in events if e.type is EventType.WORKFLOW_TASK_COMPLETED), default=0)
    later = [e for e in events if e.seq > last]
    signals = [
        PendingSignal(name=str(e.attributes.get("name", "")), received_at=e.at)
        for e in later
        if e.type is EventType.SIGNAL_RECEIVED
    ]
    accepted = {
        str(e.attributes.get("update_id")): str(e.attributes.get("name", ""))
        for e in events
        if e.type is EventType.WORKFLOW_UPDATE_ACCEPTED
    }
    for e in events:
        if e.type is EventType.WORKFLOW_UPDATE_COMPLETED:
            accepted.pop(str(e.attributes.get("update_id")), None)
    updates = [PendingUpdate(update_id=i, name=n) for i, n in accepted.items()]
    failed = [e for e in later if e.type is EventType.WORKFLOW_TASK_FAILED]
    failing = None
    if failed:
        failure = failed[-1].attributes.get("failure") or {}
        failing = (
            f"its workflow task keeps failing ({len(failed)} "
            f"{'time' if len(failed) == 1 else 'times'} since the last one that completed): "
            f"{failure.get('message', 'no message')}"
        )
    return signals, updates, failing
