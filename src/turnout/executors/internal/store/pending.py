"""What an open run waits on, read for ``describe()``: its activities not yet finished
(from their queue items: attempt, lease, heartbeat, last failure, the retry's time) and
its open child workflows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from turnout.contracts.errors import Failure
from turnout.contracts.events import Event, EventType
from turnout.contracts.pending import PendingActivity, PendingActivityState, PendingChildWorkflow
from turnout.contracts.records import QueueItemKind, QueueItemState
from turnout.contracts.states import ACTIVE_STATES
from turnout.executors.internal.schema import events, queue_items, runs
from turnout.executors.internal.store.core import StoreCore
from turnout.executors.internal.store.rows import event_from_row

__all__ = ["PendingOperations"]

_OPEN = [QueueItemState.QUEUED.value, QueueItemState.CLAIMED.value, QueueItemState.RUNNING.value]


def _activity(row: Any) -> PendingActivity:
    payload = row.payload or {}
    if row.cancel_requested:
        state = PendingActivityState.CANCEL_REQUESTED
    elif row.state == QueueItemState.QUEUED.value:
        state = PendingActivityState.SCHEDULED
    else:
        state = PendingActivityState.STARTED
    retry = payload.get("retry_policy") or {}
    waiting = state is PendingActivityState.SCHEDULED and row.attempt > 1
    scheduled = payload.get("scheduled_at")
    return PendingActivity(
        activity_id=str(payload.get("activity_id") or row.ref),
        activity_type=row.name or "",
        state=state,
        attempt=row.attempt,
        maximum_attempts=int(retry.get("maximum_attempts") or 0),
        scheduled_time=scheduled,
        last_started_time=row.started_at,
        last_heartbeat_time=row.heartbeat_at,
        heartbeat_details=list(row.heartbeat_details or []),
        last_failure=Failure.model_validate(row.last_failure) if row.last_failure else None,
        next_attempt_schedule_time=row.available_at if waiting else None,
        last_worker_identity=row.lease_owner,
    )


class PendingOperations(StoreCore):
    """Read what open runs wait on."""

    async def events_since_last_task(self, tenant_id: str, run_id: str) -> list[Event]:
        """The run's events after its last completed workflow task, with its update
        events of any time: what ``since_last_task`` reads, without the whole history."""
        e = events.c
        last = (
            select(func.coalesce(func.max(e.seq), 0))
            .where(e.run_id == run_id, e.type == EventType.WORKFLOW_TASK_COMPLETED.value)
            .scalar_subquery()
        )
        updates = [
            EventType.WORKFLOW_UPDATE_ACCEPTED.value,
            EventType.WORKFLOW_UPDATE_COMPLETED.value,
        ]
        stmt = (
            select(events)
            .where(e.run_id == run_id, e.tenant_id == tenant_id)
            .where(or_(e.seq > last, e.type.in_(updates)))
            .order_by(e.seq)
        )
        async with self.reader.connect() as conn:
            return [event_from_row(row) for row in (await conn.execute(stmt)).all()]

    async def pending_work(
        self, tenant_id: str, run_id: str
    ) -> tuple[list[PendingActivity], list[PendingChildWorkflow]]:
        """The run's unfinished activities (in the order they were scheduled) and its open
        child workflows."""
        activities = (
            select(queue_items)
            .where(
                queue_items.c.tenant_id == tenant_id,
                queue_items.c.run_id == run_id,
                queue_items.c.kind == QueueItemKind.ACTIVITY_TASK.value,
                queue_items.c.state.in_(_OPEN),
            )
            .order_by(queue_items.c.id)
        )
        children = (
            select(runs.c.workflow_id, runs.c.run_id, runs.c.workflow_type)
            .where(
                runs.c.parent_run_id == run_id,
                runs.c.tenant_id == tenant_id,
                runs.c.state.in_([s.value for s in ACTIVE_STATES]),
            )
            .order_by(runs.c.requested_at)
        )
        async with self.reader.connect() as conn:
            pending = [_activity(row) for row in (await conn.execute(activities)).all()]
            open_children = [
                PendingChildWorkflow(workflow_id=w, run_id=r, workflow_type=t)
                for w, r, t in (await conn.execute(children)).all()
            ]
        return pending, open_children
