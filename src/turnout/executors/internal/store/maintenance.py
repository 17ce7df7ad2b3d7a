"""Maintenance passes: expired leases (adopt-first for workflow tasks), run timeouts,
pruning of finished queue items."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.errors import (
    Failure,
)
from turnout.contracts.events import EventType
from turnout.contracts.records import (
    QueueItemState,
)
from turnout.contracts.states import RunState
from turnout.executors.internal.schema import queue_items, runs
from turnout.executors.internal.store.core import StoreCore
from turnout.executors.internal.store.records import ClaimedItem, ExpiredRunsParams
from turnout.executors.internal.store.rows import claimed_item
from turnout.executors.internal.store.sql import ACTIVE, LEASED, held, utcnow
from turnout.executors.internal.store.tx import Tx

__all__ = ["PRUNE_BATCH", "Lull", "MaintenanceOperations"]

PRUNE_BATCH = 5000
"""Finished queue items deleted per pruning statement."""


@dataclass(frozen=True)
class Lull:
    """What a tenant's queues wait for: ``busy`` while any item is ready or held; else
    ``until``, when the next queued item (a timer, a retry) or run deadline comes due
    (None: nothing is scheduled)."""

    busy: bool
    until: datetime | None = None


class MaintenanceOperations(StoreCore):
    """Find and repair expired leases and runs."""

    # -- maintenance ------------------------------------------------------------------------------
    async def lull(self, tenant_id: str) -> Lull:
        """Whether ``tenant_id``'s queues have work now, else when they next will (what a
        time-skipping test environment skips to). Reads only."""
        now = utcnow()
        tenant = queue_items.c.tenant_id == tenant_id
        queued = queue_items.c.state == QueueItemState.QUEUED.value
        ready = select(queue_items.c.id).where(
            tenant,
            or_(queue_items.c.state.in_(LEASED), and_(queued, queue_items.c.available_at <= now)),
        )
        next_item = select(func.min(queue_items.c.available_at)).where(tenant, queued)
        next_deadline = select(func.min(runs.c.execution_deadline)).where(
            runs.c.tenant_id == tenant_id, runs.c.state.in_(ACTIVE)
        )
        async with self.reader.connect() as conn:
            if (await conn.execute(ready.limit(1))).first() is not None:
                return Lull(busy=True)
            dues = [
                (await conn.execute(next_item)).scalar_one_or_none(),
                (await conn.execute(next_deadline)).scalar_one_or_none(),
            ]
        found = [d if d.tzinfo else d.replace(tzinfo=UTC) for d in dues if d is not None]
        return Lull(busy=False, until=min(found) if found else None)

    async def expired_items(self, limit: int = 100) -> list[ClaimedItem]:
        """Leased items whose lease has expired, oldest first within each tenant and the
        tenants taken in turn: one tenant's backlog never keeps another's recovery waiting."""
        now = utcnow()
        expired = (
            select(
                queue_items.c.id,
                func.row_number()
                .over(partition_by=queue_items.c.tenant_id, order_by=queue_items.c.lease_expires_at)
                .label("turn"),
                queue_items.c.lease_expires_at,
            )
            .where(queue_items.c.state.in_(LEASED), queue_items.c.lease_expires_at < now)
            .subquery("expired")
        )
        picked = (
            select(expired.c.id)
            .order_by(expired.c.turn, expired.c.lease_expires_at, expired.c.id)
            .limit(limit)
            .subquery("picked")
        )
        async with self.reader.connect() as conn:
            rows = (
                await conn.execute(
                    select(queue_items)
                    .join(picked, picked.c.id == queue_items.c.id)
                    .order_by(queue_items.c.lease_expires_at)
                )
            ).all()
        return [claimed_item(r) for r in rows]

    async def requeue_expired_workflow_task(self, item: ClaimedItem) -> bool:
        """Adopt-first: return an expired workflow task to the queue for another worker."""

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> bool:
            now = utcnow()
            row = (
                await conn.execute(
                    update(queue_items)
                    .where(
                        queue_items.c.id == item.id,
                        queue_items.c.state.in_(LEASED),
                        queue_items.c.lease_owner == item.lease_owner,
                        queue_items.c.lease_expires_at < now,
                    )
                    .values(
                        state=QueueItemState.QUEUED.value,
                        lease_owner=None,
                        lease_expires_at=None,
                        sticky_worker=None,  # its worker is presumed gone
                        attempt=item.attempt + 1,
                        available_at=now,
                        updated_at=now,
                    )
                    .returning(queue_items.c.id)
                )
            ).first()
            if row is None:
                return False
            spec = (
                EventType.LEASE_EXPIRED,
                {
                    "kind": item.kind,
                    "queue_item_id": item.id,
                    "worker": item.lease_owner,
                    "attempt": item.attempt,
                },
            )
            await self._append(conn, item.run_id, [spec], now=now)
            await self._transition(conn, item.run_id, RunState.QUEUED, now)
            tx.queues.add(item.task_queue)
            return True

        try:
            return bool(await self._run_tx(tx_fn))
        except IntegrityError:
            # A newer pending workflow task of the run already exists: end this one instead.

            async def end_fn(conn: AsyncConnection, tx: Tx) -> None:
                await conn.execute(
                    update(queue_items)
                    .where(
                        *held(item, states=LEASED),
                        queue_items.c.lease_expires_at < utcnow(),
                    )
                    .values(
                        state=QueueItemState.FAILED.value, lease_owner=None, lease_expires_at=None
                    )
                )

            await self._run_tx(end_fn)
            return True

    async def expired_runs(self, p: ExpiredRunsParams) -> list[str]:
        """Open runs past their execution timeout, oldest deadline first (but ``skip``)."""
        now = utcnow()
        stmt = select(runs.c.run_id).where(
            runs.c.state.in_(ACTIVE), runs.c.execution_deadline < now
        )
        if p.skip:
            stmt = stmt.where(runs.c.run_id.not_in(sorted(p.skip)))
        async with self.reader.connect() as conn:
            return list(
                (
                    await conn.execute(stmt.order_by(runs.c.execution_deadline).limit(p.limit))
                ).scalars()
            )

    async def time_out_run(self, run_id: str) -> bool:
        """Close a run whose execution timeout passed."""
        now = utcnow()

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> bool:
            seqs = await self._close_run(
                conn,
                tx,
                run_id,
                RunState.TIMED_OUT,
                now,
                [(EventType.WORKFLOW_TIMED_OUT, {})],
                failure=Failure(
                    kind="timeout", message="workflow execution timed out", type="start_to_close"
                ),
            )
            return seqs is not None

        return bool(await self._run_tx(tx_fn))

    async def prune_finished(self, before: datetime, limit: int = PRUNE_BATCH) -> int:
        """Delete up to ``limit`` queue items that finished (completed, canceled, failed)
        before ``before``; how many. The queue table keeps only live work, recent history
        and dead letters: the run's events are the record of what happened, and dead
        letters stay until an operator deals with them."""
        finished = [
            QueueItemState.COMPLETED.value,
            QueueItemState.CANCELED.value,
            QueueItemState.FAILED.value,
        ]
        oldest = (
            select(queue_items.c.id)
            .where(queue_items.c.state.in_(finished), queue_items.c.updated_at < before)
            .order_by(queue_items.c.id)
            .limit(limit)
        )

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> int:
            ids = list((await conn.execute(oldest)).scalars())
            if ids:
                await conn.execute(
                    delete(queue_items).where(
                        queue_items.c.id.in_(ids),
                        queue_items.c.state.in_(finished),
                    )
                )
            return len(ids)

        return await self._run_tx(tx_fn)
