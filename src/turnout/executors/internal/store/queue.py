"""Claiming work: atomic batch claims, due timers, leases, release on shutdown."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.events import EventType
from turnout.contracts.records import (
    QueueItemState,
)
from turnout.executors.internal.schema import queue_items, runs
from turnout.executors.internal.store.claims import (
    claim_statement,
    eager_statement,
    fire_statement,
    next_due_statement,
    params_for,
    ready_statement,
)
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
from turnout.executors.internal.store.rows import (
    claimed_item,
    with_histories,
)
from turnout.executors.internal.store.sql import (
    ACT,
    APPROVAL_TIMER,
    LEASED,
    STICKY_SECONDS,
    TIMER,
    WFT,
    activity_lease,
    grouped_case,
    held,
    no_item,
    utcnow,
)
from turnout.executors.internal.store.tx import Tx

__all__ = ["STARTING", "QueueOperations"]

_log = logging.getLogger("turnout.store")

STARTING: EventSpec = (EventType.STATE_CHANGED, {"from": "queued", "to": "claimed"})
"""The event of a run whose first workflow task is claimed."""


class QueueOperations(QuarantineOperations, GovernanceOperations):
    """Claim and lease queue items."""

    # -- worker operations ------------------------------------------------------------------
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
            result = await self._claim_once(p)
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
                        lambda item: self._claim_once(p, item.id),
                        "claiming",
                    ):
                        result += taken
        return result

    async def _anything_ready(
        self, task_queue: str, tenant_id: str | None, workflow_tasks: int, activities: int
    ) -> bool:
        kinds = [k for k, n in ((WFT, workflow_tasks), (ACT, activities)) if n > 0]
        async with self.reader.connect() as conn:
            params = {**params_for(task_queue, utcnow(), tenant_id), "kinds": kinds}
            return bool(await self._fetch(conn, ready_statement(tenant_id is not None), params))

    async def _claim_once(self, p: ClaimParams, only: int | None = None) -> list[ClaimedItem]:
        """One claim transaction; a run's first task comes with its history."""
        items, tx = await self._run_tx(self._claim_tx, p, only)
        return with_histories(items, tx.prefetch, tx.prefetched)

    async def _claim_tx(
        self, conn: AsyncConnection, tx: Tx, p: ClaimParams, only: int | None = None
    ) -> tuple[list[ClaimedItem], Tx]:
        now = utcnow()
        limits = {k: n for k, n in ((WFT, p.workflow_tasks), (ACT, p.activities)) if n > 0}
        params = params_for(p.task_queue, now, p.tenant_id)
        params.update({f"limit_{k}": n for k, n in limits.items()})
        params["owner"] = p.owner
        params["until"] = now + timedelta(seconds=p.workflow_lease)
        if WFT in limits:
            params["sticky_before"] = now - timedelta(seconds=STICKY_SECONDS)
        if only is not None:
            params["only"] = only
        shape = (tuple(limits), p.tenant_id is not None, only is not None)
        items, fresh = await self._claim_starting(conn, tx, shape, params, now)
        tx.prefetch = dict.fromkeys(fresh, 0)
        tasks = [item for item in items if item.kind == WFT]
        if self.pipelines and p.seen is not None:
            # The new events of the runs the worker holds travel with the COMMIT: their
            # tasks need no read of their own. (A whole history is read outside the
            # claim's transaction, which holds the claimed rows until its COMMIT.)
            for task in tasks:
                if task.run_id not in tx.prefetch and (seen := p.seen(task.run_id)) > 0:
                    tx.prefetch[task.run_id] = seen
        activities = [item for item in items if item.kind == ACT]
        return tasks + await self._start_activities(conn, tx, activities, now), tx

    async def _claim_starting(
        self,
        conn: AsyncConnection,
        tx: Tx,
        shape: tuple[tuple[str, ...], bool, bool],
        params: dict[str, Any],
        now: datetime,
    ) -> tuple[list[ClaimedItem], list[str]]:
        """Dialect hook: claim (``claim_statement(*shape)`` with ``params``); the items
        claimed, and the runs of their workflow tasks that were queued and are now
        claimed, with a ``state_changed`` event each (their first task: its history is
        read with the claim)."""
        claim = claim_statement(*shape)
        items = [claimed_item(row) for row in await self._fetch(conn, claim, params)]
        tasks = {item.run_id: [STARTING] for item in items if item.kind == WFT}
        if not tasks:
            return items, []
        # Only a queued run changes state; a guarded UPDATE leaves the rows of runs
        # already running unlocked (no lock cycle with event appends).
        fresh = await self._append_many(conn, tx, tasks, now, claiming=True)
        return items, [info.run_id for info in fresh]

    async def _claim_eagerly(
        self, conn: AsyncConnection, run_ids: Sequence[str], eager: EagerClaim, now: datetime
    ) -> None:
        """Claim, in the caller's transaction, the workflow tasks of ``run_ids`` that it
        just queued, for ``eager``'s worker (eager dispatch: no claim transaction, no
        wake-up wait). A run whose task is already leased keeps its new one queued, and
        so does one another worker holds cached (sticky): that worker takes it and goes on
        from memory, where this one would replay the run, and the other's cached copy of
        it would stay in its cache, stale, until pushed out."""
        if eager.limit <= len(eager.claimed) or not eager.names or not run_ids:
            return
        params = {
            **params_for(eager.task_queue, now, None),
            "runs": sorted(run_ids),
            "names": sorted(eager.names),
            "limit": eager.limit - len(eager.claimed),
            "owner": eager.owner,
            "until": now + timedelta(seconds=eager.workflow_lease),
            "sticky_before": now - timedelta(seconds=STICKY_SECONDS),
        }
        rows = await self._fetch(conn, eager_statement(), params)
        eager.claimed.extend(claimed_item(row) for row in rows)

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
        if p.peek:
            async with self.reader.connect() as conn:
                params = {**params_for(task_queue, utcnow(), tenant_id), "kinds": [TIMER]}
                if not await self._fetch(conn, ready_statement(tenant_id is not None), params):
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
        params = {**params_for(task_queue, now, tenant_id), f"limit_{TIMER}": limit}
        if only is not None:
            params["only"] = only
        fire = fire_statement(TIMER, tenant_id is not None, only is not None)
        rows = await self._fetch(conn, fire, params)
        # A run's timers that fire together fire in the order they came due, as on
        # Temporal (after a worker was away, several fire in one pass); runs in id order,
        # the order every batch locks them in.
        for row in sorted(rows, key=lambda r: (r.run_id, r.available_at, r.id)):
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
        params = params_for(task_queue, utcnow(), tenant_id)
        async with self.reader.connect() as conn:
            ((due,),) = await self._fetch(conn, next_due_statement(tenant_id is not None), params)
        value: datetime | None = due
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
                            sticky_worker=None,
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

    async def unstick(self, owner: str) -> None:
        """Offer the runs whose tasks go first to ``owner`` to every worker again."""

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> None:
            await conn.execute(
                update(queue_items)
                .where(
                    queue_items.c.state == QueueItemState.QUEUED.value,
                    queue_items.c.sticky_worker == owner,
                )
                .values(sticky_worker=None)
            )
            await conn.execute(
                update(runs).where(runs.c.sticky_worker == owner).values(sticky_worker=None)
            )

        await self._run_tx(tx_fn)

    async def _end_released(self, conn: AsyncConnection, tx: Tx, item: ClaimedItem) -> None:
        await self._end_item(conn, item, QueueItemState.FAILED, utcnow())
