"""Workers in the database: a worker joins when it starts, its heartbeat keeps it fresh,
it leaves on shutdown; readers list a tenant's workers (``turnout workers``, ``status``,
``describe()``'s "why it does not move")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.workers import WorkerInfo
from turnout.executors.internal.schema import workers
from turnout.executors.internal.store.core import StoreCore
from turnout.executors.internal.store.tx import Tx

__all__ = ["WorkerOperations"]


def _info(row: Any) -> WorkerInfo:
    return WorkerInfo(
        identity=row.identity,
        task_queue=row.task_queue,
        last_seen_at=row.last_seen_at,
        host=row.host,
        pid=row.pid,
        started_at=row.started_at,
        workflow_types=list(row.workflow_types),
        activity_types=list(row.activity_types),
        max_workflow_tasks=row.max_workflow_tasks,
        max_activities=row.max_activities,
    )


class WorkerOperations(StoreCore):
    """Keep the table of running workers."""

    async def join_worker(self, tenant_id: str, worker: WorkerInfo) -> None:
        """Record a starting worker (replacing a row of the same identity)."""
        row = {
            "identity": worker.identity,
            "tenant_id": tenant_id,
            "task_queue": worker.task_queue,
            "host": worker.host or "",
            "pid": worker.pid or 0,
            "workflow_types": list(worker.workflow_types or []),
            "activity_types": list(worker.activity_types or []),
            "max_workflow_tasks": worker.max_workflow_tasks or 0,
            "max_activities": worker.max_activities or 0,
            "started_at": worker.started_at or worker.last_seen_at,
            "last_seen_at": worker.last_seen_at,
        }

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> None:
            await conn.execute(delete(workers).where(workers.c.identity == worker.identity))
            await conn.execute(workers.insert(), [row])

        await self._run_tx(tx_fn)

    async def worker_seen(self, identity: str, now: datetime) -> bool:
        """A worker's heartbeat; False when its row is gone (pruned while it was away)."""

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> bool:
            stmt = update(workers).where(workers.c.identity == identity).values(last_seen_at=now)
            return bool((await conn.execute(stmt)).rowcount)

        return bool(await self._run_tx(tx_fn))

    async def leave_worker(self, identity: str) -> None:
        """Forget a worker that stopped."""

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> None:
            await conn.execute(delete(workers).where(workers.c.identity == identity))

        await self._run_tx(tx_fn)

    async def prune_workers(self, seen_before: datetime) -> int:
        """Forget workers not seen since ``seen_before`` (they died without leaving)."""

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> int:
            stmt = delete(workers).where(workers.c.last_seen_at < seen_before)
            return int((await conn.execute(stmt)).rowcount or 0)

        return int(await self._run_tx(tx_fn))

    async def list_workers(self, tenant_id: str, task_queue: str | None = None) -> list[WorkerInfo]:
        """The tenant's workers (of ``task_queue`` when given), by queue then identity."""
        stmt = select(workers).where(workers.c.tenant_id == tenant_id)
        if task_queue is not None:
            stmt = stmt.where(workers.c.task_queue == task_queue)
        stmt = stmt.order_by(workers.c.task_queue, workers.c.identity)
        async with self.reader.connect() as conn:
            return [_info(row) for row in (await conn.execute(stmt)).all()]
