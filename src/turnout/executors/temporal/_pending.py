"""What an open run waits on, from Temporal's describe: its pending activities and
pending child workflows, as turnout's records."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import temporalio.client
from temporalio.api.enums.v1 import PendingActivityState as RawState

from turnout.contracts.errors import failure_from_exception
from turnout.contracts.events import Event
from turnout.contracts.pending import (
    PendingActivity,
    PendingActivityState,
    PendingChildWorkflow,
    since_last_task,
)
from turnout.contracts.workers import no_worker_reason
from turnout.executors.temporal._errors import to_turnout
from turnout.executors.temporal._workers import pollers

__all__ = ["explain", "pending_work"]

_STATES = {
    RawState.PENDING_ACTIVITY_STATE_SCHEDULED: PendingActivityState.SCHEDULED,
    RawState.PENDING_ACTIVITY_STATE_STARTED: PendingActivityState.STARTED,
    RawState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED: PendingActivityState.CANCEL_REQUESTED,
}


def _time(message: Any, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    moment: datetime = getattr(message, field).ToDatetime()
    return moment.replace(tzinfo=UTC)


def _json(payload: Any) -> Any:
    try:
        return json.loads(payload.data)
    except ValueError:
        return payload.data.decode(errors="replace")


async def pending_work(
    client: temporalio.client.Client, description: temporalio.client.WorkflowExecutionDescription
) -> tuple[list[PendingActivity], list[PendingChildWorkflow]]:
    """The pending activities and children of a described open run."""
    raw = description.raw_description
    activities = []
    for a in raw.pending_activities:
        failure = None
        if a.HasField("last_failure"):
            raised = await client.data_converter.decode_failure(a.last_failure)
            failure = failure_from_exception(to_turnout(raised), with_stack=False)
        activities.append(
            PendingActivity(
                activity_id=a.activity_id,
                activity_type=a.activity_type.name,
                state=_STATES.get(a.state, PendingActivityState.SCHEDULED),
                attempt=a.attempt,
                maximum_attempts=a.maximum_attempts,
                scheduled_time=_time(a, "scheduled_time"),
                last_started_time=_time(a, "last_started_time"),
                last_heartbeat_time=_time(a, "last_heartbeat_time"),
                heartbeat_details=[_json(p) for p in a.heartbeat_details.payloads],
                last_failure=failure,
                next_attempt_schedule_time=_time(a, "next_attempt_schedule_time"),
                last_worker_identity=a.last_worker_identity or None,
            )
        )
    children = [
        PendingChildWorkflow(
            workflow_id=c.workflow_id, run_id=c.run_id, workflow_type=c.workflow_type_name
        )
        for c in raw.pending_children
    ]
    return activities, children


async def explain(
    client: temporalio.client.Client,
    description: temporalio.client.WorkflowExecutionDescription,
    events: Callable[[], Awaitable[list[Event]]],
) -> dict[str, Any]:
    """What an open run waits on and why it may not move, as the fields of its Run."""
    activities, children = await pending_work(client, description)
    signals, updates, failing = since_last_task(await events())
    polled = await pollers(client, description.task_queue, workflows_only=True)
    return {
        "pending_activities": activities,
        "pending_children": children,
        "pending_signals": signals,
        "pending_updates": updates,
        "stuck_reason": failing if polled else no_worker_reason(description.task_queue),
    }
