"""Claiming work: atomic batch claims, due timers, leases, release on shutdown."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.events import EventType
from turnout.contracts.records import (
    QueueItemState,
)
from turnout.contracts.states import RunState
from turnout.executors.internal.schema import queue_items, runs
from turnout.executors.internal.store.errors import UNREACHABLE
from turnout.executors.internal.store.governance import GovernanceOperations
from turnout.executors.internal.store.quarantine import QuarantineOperations
from turnout.executors.internal.store.records import (
    ClaimedItem,
    ClaimParams,
    EagerClaim,
    EventSpec,
    FireTimersParams,
)
from turnout.executors.internal.store.rows import claimed_item
from turnout.executors.internal.store.sql import (
    ACT,
    APPROVAL_TIMER,
    LEASED,
    TIMER,
    WFT,
    activity_lease,
    grouped_case,
    held,
    no_item,
    no_run,
    utcnow,
)
from turnout.executors.internal.store.tx import Tx

__all__ = ["QueueOperations"]

_log = logging.getLogger("turnout.store")

# Aliases are built once: each builds its column collection (a proxy per column), which
# cost about a millisecond per claim when made for every statement.
_Q = queue_items.alias("q")
_BUSY = queue_items.alias("busy")


class QueueOperations(QuarantineOperations, GovernanceOperations):
    """Claim and lease queue items."""

    # -- worker operations ------------------------------------------------------------------
    def _claim_subquery(
        self,
        task_queue: str,
        kind: str,
        limit: int,
        now: datetime,
        tenant_id: str | None,
        only: int | None = None,
    ) -> Any:
        q = _Q
        stmt = select(q.c.id).where(
            q.c.state == QueueItemState.QUEUED.value,
            q.c.task_queue == task_queue,
            q.c.kind == kind,
            q.c.available_at <= now,
        )
        if tenant_id is not None:
            stmt = stmt.where(q.c.tenant_id == tenant_id)
        if only is not None:
            stmt = stmt.where(q.c.id == only)
        if kind == WFT:
            stmt = stmt.where(_no_task_running(q))
        stmt = stmt.order_by(q.c.priority.desc(), q.c.available_at, q.c.id).limit(limit)
        return stmt.with_for_update(skip_locked=True)

    def _picked(
        self,
        task_queue: str,
        kind: str,
        limit: int,
        now: datetime,
        tenant_id: str | None = None,
        only: int | None = None,
    ) -> Any:
        """The rows to claim (``only``: that item, if ready), as a CTE evaluated exactly
        once: ``IN (SELECT ... LIMIT n)`` may run its subquery again under some PostgreSQL
        plans and claim more than n."""
        subquery = self._claim_subquery(task_queue, kind, limit, now, tenant_id, only)
        cte = subquery.cte(f"picked_{kind}")
        return cte.prefix_with("MATERIALIZED")

    async def claim(self, p: ClaimParams) -> list[ClaimedItem]:
        """Claim up to the given numbers of ready items (atomically, never twice); only
        ``tenant_id``'s items when given. With ``peek`` (an idle worker), a read checks
        first that something is ready, so polling an empty queue takes no write lock."""
        if p.workflow_tasks <= 0 and p.activities <= 0:
            return []
        if p.peek and not await self._anything_ready(
            p.task_queue, p.tenant_id, p.workflow_tasks, p.activities
        ):
            return []
        try:
            result: list[ClaimedItem] = await self._run_tx(self._claim_tx, p)
        except UNREACHABLE:
            raise
        except Exception as exc:  # one item the claim cannot take must not stop the queue
            _log.warning(
                "claim on task queue %s failed (%r); claiming one by one", p.task_queue, exc
            )
            result = []
            for kind, limit in ((WFT, p.workflow_tasks), (ACT, p.activities)):
                if limit > 0:
                    ready = await self._ready_items(p.task_queue, kind, limit, p.tenant_id)
                    for taken in await self._each_alone(
                        ready,
                        lambda item: self._run_tx(self._claim_tx, p, item.id),
                        "claiming",
                    ):
                        result += taken
        return result

    async def _anything_ready(
        self, task_queue: str, tenant_id: str | None, workflow_tasks: int, activities: int
    ) -> bool:
        kinds = [k for k, n in ((WFT, workflow_tasks), (ACT, activities)) if n > 0]
        ready = select(queue_items.c.id).where(
            queue_items.c.state == QueueItemState.QUEUED.value,
            queue_items.c.task_queue == task_queue,
            queue_items.c.kind.in_(kinds),
            queue_items.c.available_at <= utcnow(),
        )
        if tenant_id is not None:
            ready = ready.where(queue_items.c.tenant_id == tenant_id)
        async with self.reader.connect() as conn:
            return (await conn.execute(ready.limit(1))).first() is not None

    async def _claim_tx(
        self, conn: AsyncConnection, tx: Tx, p: ClaimParams, only: int | None = None
    ) -> list[ClaimedItem]:
        now = utcnow()
        lease_until = now + timedelta(seconds=p.workflow_lease)
        # Both kinds in one statement: each picked by its own CTE, leased together.
        picks = [
            self._picked(p.task_queue, kind, limit, now, p.tenant_id, only)
            for kind, limit in ((WFT, p.workflow_tasks), (ACT, p.activities))
            if limit > 0
        ]
        picked = picks[0]
        if len(picks) > 1:
            picked = union_all(*(select(c.c.id) for c in picks)).cte("picked")
        items = await _lease(conn, picked, p.owner, lease_until, now)
        tasks = [item for item in items if item.kind == WFT]
        if tasks:
            # Only a queued run changes state; a guarded UPDATE leaves the rows of runs
            # already running unlocked (no lock cycle with event appends).
            await self._append_many(
                conn,
                tx,
                {
                    item.run_id: [(EventType.STATE_CHANGED, {"from": "queued", "to": "claimed"})]
                    for item in tasks
                },
                now,
                values={
                    "state": RunState.CLAIMED.value,
                    "started_at": func.coalesce(runs.c.started_at, now),
                },
                extra_where=runs.c.state == RunState.QUEUED.value,
            )
        activities = [item for item in items if item.kind == ACT]
        return tasks + await self._start_activities(conn, tx, activities, now)

    async def _claim_eagerly(
        self, conn: AsyncConnection, run_ids: Sequence[str], eager: EagerClaim, now: datetime
    ) -> None:
        """Claim, in the caller's transaction, the workflow tasks of ``run_ids`` that it
        just queued, for ``eager``'s worker (eager dispatch: no claim transaction, no
        wake-up wait). A run whose task is already leased keeps its new one queued."""
        if eager.limit <= len(eager.claimed) or not eager.names or not run_ids:
            return
        q = _Q
        picked = (
            select(q.c.id)
            .where(
                self._among(q.c.run_id, sorted(run_ids), no_run),
                q.c.kind == WFT,
                q.c.state == QueueItemState.QUEUED.value,
                q.c.task_queue == eager.task_queue,
                q.c.name.in_(sorted(eager.names)),
                q.c.available_at <= now,
                _no_task_running(q),
            )
            .order_by(q.c.id)
            .limit(eager.limit - len(eager.claimed))
            .cte("eager")
            .prefix_with("MATERIALIZED")
        )
        lease_until = now + timedelta(seconds=eager.workflow_lease)
        eager.claimed.extend(await _lease(conn, picked, eager.owner, lease_until, now))

    async def _start_activities(
        self, conn: AsyncConnection, tx: Tx, items: Sequence[ClaimedItem], now: datetime
    ) -> list[ClaimedItem]:
        """Start claimed activity attempts: each gets the lease its timeouts allow and an
        ``activity_started`` event. Those whose run closed meanwhile are canceled instead."""
        if not items:
            return []
        leases = {item.id: activity_lease(item.activity, item.deadline_at, now) for item in items}
        await conn.execute(
            update(queue_items)
            .where(self._among(queue_items.c.id, sorted(leases), no_item))
            .values(
                lease_expires_at=grouped_case(
                    queue_items.c.id,
                    leases,
                    else_=queue_items.c.lease_expires_at,
                    among=self._among,
                    type_=queue_items.c.lease_expires_at.type,
                    filler=no_item,
                )
            )
        )
        specs: dict[str, list[EventSpec]] = {}
        for item in items:
            specs.setdefault(item.run_id, []).append(
                (
                    EventType.ACTIVITY_STARTED,
                    {
                        "activity_seq": int(item.ref or 0),
                        "activity_id": item.activity.activity_id,
                        "activity_type": item.name,
                        "attempt": item.attempt,
                        "worker": item.lease_owner,
                    },
                )
            )
        open_runs = {info.run_id for info in await self._append_many(conn, tx, specs, now)}
        closed = [item.id for item in items if item.run_id not in open_runs]
        if closed:  # nothing to do for a closed run
            await conn.execute(
                update(queue_items)
                .where(queue_items.c.id.in_(closed))
                .values(
                    state=QueueItemState.CANCELED.value, lease_owner=None, lease_expires_at=None
                )
            )
        return [
            dataclasses.replace(item, lease_expires_at=leases[item.id])
            for item in items
            if item.run_id in open_runs
        ]

    async def fire_timers(self, p: FireTimersParams) -> int:
        """Fire due timers: append ``timer_fired`` and wake the workflow. Returns how many.

        With ``peek`` (an idle worker), a read comes first: polling takes no write lock.
        """
        task_queue, limit, tenant_id = p.task_queue, p.limit, p.tenant_id
        due = select(queue_items.c.id).where(
            queue_items.c.state == QueueItemState.QUEUED.value,
            queue_items.c.task_queue == task_queue,
            queue_items.c.kind == TIMER,
            queue_items.c.available_at <= utcnow(),
        )
        if tenant_id is not None:
            due = due.where(queue_items.c.tenant_id == tenant_id)
        if p.peek:
            async with self.reader.connect() as conn:
                if (await conn.execute(due.limit(1))).first() is None:
                    return 0
        try:
            fired: int = await self._run_tx(self._fire_timers_tx, task_queue, limit, tenant_id)
        except UNREACHABLE:
            raise
        except Exception as exc:  # one timer that cannot fire must not stop the others
            _log.warning("timers of task queue %s failed (%r); firing one by one", task_queue, exc)
            ready = await self._ready_items(task_queue, TIMER, limit, tenant_id)
            fired = sum(
                await self._each_alone(
                    ready,
                    lambda item: self._run_tx(
                        self._fire_timers_tx, task_queue, 1, tenant_id, item.id
                    ),
                    "firing",
                )
            )
        return fired

    async def _fire_timers_tx(
        self,
        conn: AsyncConnection,
        tx: Tx,
        task_queue: str,
        limit: int,
        tenant_id: str | None,
        only: int | None = None,
    ) -> int:
        now = utcnow()
        picked = self._picked(task_queue, TIMER, limit, now, tenant_id, only)
        rows = (
            await conn.execute(
                update(queue_items)
                .where(
                    queue_items.c.id == picked.c.id,
                    queue_items.c.state == QueueItemState.QUEUED.value,
                )
                .values(state=QueueItemState.COMPLETED.value, updated_at=now)
                .returning(
                    queue_items.c.run_id,
                    queue_items.c.ref,
                    queue_items.c.name,
                    queue_items.c.payload,
                )
            )
        ).all()
        for row in rows:
            if row.ref.startswith(APPROVAL_TIMER):
                await self._approval_timer_fired(conn, tx, row, now)
                continue
            await self._deliver(
                conn, tx, row.run_id, [(EventType.TIMER_FIRED, {"timer_seq": int(row.ref)})], now
            )
        return len(rows)

    async def next_due(self, task_queue: str, tenant_id: str | None = None) -> datetime | None:
        """When the earliest queued item of ``task_queue`` (of ``tenant_id``'s, if given)
        becomes ready (None: nothing queued). A read: it takes no write lock."""
        due = select(func.min(queue_items.c.available_at)).where(
            queue_items.c.state == QueueItemState.QUEUED.value,
            queue_items.c.task_queue == task_queue,
        )
        if tenant_id is not None:
            due = due.where(queue_items.c.tenant_id == tenant_id)
        async with self.reader.connect() as conn:
            value: datetime | None = (await conn.execute(due)).scalar_one_or_none()
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    async def extend_leases(self, owner: str, item_ids: Sequence[int], until: datetime) -> None:
        """Keep the leases of workflow tasks this worker is processing."""
        if not item_ids:
            return
        extend = (
            update(queue_items)
            .where(
                queue_items.c.id.in_(list(item_ids)),
                queue_items.c.lease_owner == owner,
                queue_items.c.state.in_(LEASED),
                queue_items.c.kind == WFT,
            )
            .values(lease_expires_at=until)
        )

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> None:
            await conn.execute(extend)

        await self._run_tx(tx_fn)

    async def release(self, items: Iterable[ClaimedItem]) -> None:
        """Give items back to the queue at once (graceful shutdown), each with a
        ``lease_expired`` event (reason ``released``) on its run's timeline."""
        for item in items:

            async def tx_fn(conn: AsyncConnection, tx: Tx, item: ClaimedItem = item) -> None:
                now = utcnow()
                back = (
                    await conn.execute(
                        update(queue_items)
                        .where(
                            *held(item, states=LEASED),
                        )
                        .values(
                            state=QueueItemState.QUEUED.value,
                            lease_owner=None,
                            lease_expires_at=None,
                            available_at=now,
                            updated_at=now,
                        )
                        .returning(queue_items.c.id)
                    )
                ).first()
                if back is None:
                    return
                spec = (
                    EventType.LEASE_EXPIRED,
                    {
                        "kind": item.kind,
                        "queue_item_id": item.id,
                        "worker": item.lease_owner,
                        "attempt": item.attempt,
                        "reason": "released",
                    },
                )
                await self._append(conn, item.run_id, [spec], now=now)
                tx.queues.add(item.task_queue)

            try:
                await self._run_tx(tx_fn)
            except IntegrityError:
                # A newer pending workflow task of the run exists: it carries the work on.
                await self._run_tx(self._end_released, item)

    async def _end_released(self, conn: AsyncConnection, tx: Tx, item: ClaimedItem) -> None:
        await self._end_item(conn, item, QueueItemState.FAILED, utcnow())


def _no_task_running(q: Any) -> Any:
    """SQL condition: no workflow task of ``q``'s run is leased (one task per run at once)."""
    busy = _BUSY
    return ~exists().where(
        busy.c.run_id == q.c.run_id, busy.c.kind == WFT, busy.c.state.in_(LEASED)
    )


async def _lease(
    conn: AsyncConnection, picked: Any, owner: str, until: datetime, now: datetime
) -> list[ClaimedItem]:
    """Lease the still-queued items of ``picked`` (a CTE of ids) to ``owner``."""
    rows = (
        await conn.execute(
            update(queue_items)
            .where(
                queue_items.c.id == picked.c.id,
                queue_items.c.state == QueueItemState.QUEUED.value,
            )
            .values(
                state=QueueItemState.RUNNING.value,
                lease_owner=owner,
                lease_expires_at=until,
                started_at=now,
                updated_at=now,
            )
            .returning(*queue_items.c)
        )
    ).all()
    return [claimed_item(row) for row in rows]
