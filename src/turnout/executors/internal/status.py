"""The internal executor's answer to ``turnout status``: read-only queries of its tables,
scoped to one tenant (see :class:`turnout.contracts.status.Snapshot`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import desc, func, select

from turnout.contracts.records import QueueItemState
from turnout.contracts.status import FAILURE_EVENTS, QueueStatus, Snapshot
from turnout.executors.internal.schema import events, queue_items
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.figures import per_queue

__all__ = ["read_status"]

_LEASED = [QueueItemState.CLAIMED.value, QueueItemState.RUNNING.value]


async def read_status(store: Any, tenant_id: str, *, failures: int = 10) -> Snapshot:
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
    # Every live worker of the queue, idle ones at 0: a queue nobody polls shows none.
    for worker in await store.list_workers(tenant_id):
        if worker.alive(now):
            queue(worker.task_queue).workers.setdefault(worker.identity, 0)
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
