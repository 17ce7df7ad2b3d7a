"""What ``turnout status`` shows: per task queue, depth, lag, throughput, the workers holding
leases and their slots in use; and the latest failures. Read-only queries of the internal
executor's tables, scoped to one tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import desc, func, select

from turnout.contracts.events import EventType
from turnout.contracts.records import QueueItemState
from turnout.executors.internal.schema import events, queue_items
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.figures import per_queue

__all__ = ["FAILURE_EVENTS", "QueueStatus", "Snapshot", "snapshot"]

FAILURE_EVENTS = (
    EventType.ACTIVITY_FAILED,
    EventType.ACTIVITY_TIMED_OUT,
    EventType.DEAD_LETTERED,
    EventType.LEASE_EXPIRED,
    EventType.WORKFLOW_TASK_FAILED,
    EventType.WORKFLOW_FAILED,
    EventType.WORKFLOW_TIMED_OUT,
)
"""The events listed as recent failures."""

_LEASED = [QueueItemState.CLAIMED.value, QueueItemState.RUNNING.value]


@dataclass
class QueueStatus:
    """One task queue."""

    task_queue: str
    depth: int = 0
    lag_seconds: float = 0.0
    leased: int = 0
    workers: dict[str, int] = field(default_factory=dict)
    """Worker identity -> items it holds leases on (its slots in use)."""
    completed_last_minute: int = 0
    dead: int = 0


@dataclass
class Snapshot:
    """Everything one refresh of ``turnout status`` shows."""

    at: datetime
    queues: list[QueueStatus]
    failures: list[dict[str, Any]]
    runs: dict[str, int]


async def snapshot(store: Any, tenant_id: str, *, failures: int = 10) -> Snapshot:
    """Read one :class:`Snapshot` of ``tenant_id``'s queues from ``store``."""
    now = utcnow()
    figures = await store.figures(tenant_id)
    queues: dict[str, QueueStatus] = {}

    def queue(name: str) -> QueueStatus:
        return queues.setdefault(name, QueueStatus(name))

    for row in per_queue(figures):
        status = queue(row.task_queue)
        status.depth, status.lag_seconds, status.dead = row.depth, row.lag_seconds, row.dead_letters
    runs = {f.labels["state"]: int(f.value) for f in figures if f.name == "turnout_runs"}
    q = queue_items.c
    mine = q.tenant_id == tenant_id
    async with store.reader.connect() as conn:
        holders = (
            await conn.execute(
                select(q.task_queue, q.lease_owner, func.count())
                .where(mine, q.state.in_(_LEASED))
                .group_by(q.task_queue, q.lease_owner)
            )
        ).all()
        done = (
            await conn.execute(
                select(q.task_queue, func.count())
                .where(
                    mine,
                    q.state == QueueItemState.COMPLETED.value,
                    q.updated_at >= now - timedelta(minutes=1),
                )
                .group_by(q.task_queue)
            )
        ).all()
        latest = (
            await conn.execute(
                select(events.c.at, events.c.workflow_id, events.c.type, events.c.attributes)
                .where(
                    events.c.tenant_id == tenant_id,
                    events.c.type.in_([t.value for t in FAILURE_EVENTS]),
                )
                .order_by(desc(events.c.id))
                .limit(failures)
            )
        ).all()
    for name, owner, count in holders:
        status = queue(name)
        status.leased += int(count)
        status.workers[str(owner)] = int(count)
    for name, count in done:
        queue(name).completed_last_minute = int(count)
    return Snapshot(
        at=now,
        queues=sorted(queues.values(), key=lambda s: s.task_queue),
        failures=[
            {
                "at": at,
                "workflow_id": workflow_id,
                "event": kind,
                "what": _what(attributes or {}),
            }
            for at, workflow_id, kind, attributes in latest
        ],
        runs=runs,
    )


def _what(attributes: dict[str, Any]) -> str:
    name = attributes.get("activity_type") or attributes.get("workflow_type") or ""
    failure = attributes.get("failure") or {}
    while isinstance(failure, dict) and failure.get("cause"):
        failure = failure["cause"]
    message = failure.get("message", "") if isinstance(failure, dict) else str(failure)
    attempt = attributes.get("attempt")
    parts = [str(name)] if name else []
    if attempt:
        parts.append(f"attempt {attempt}")
    if attributes.get("timeout"):
        parts.append(f"{attributes['timeout']} timeout")
    if message:
        parts.append(str(message))
    return ", ".join(parts)
