"""Activity outcomes: completion recorded once, retries with backoff, dead letters,
heartbeats and cancellation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.errors import (
    Failure,
)
from turnout.contracts.events import EventType
from turnout.contracts.records import (
    QueueItemState,
)
from turnout.executors.internal.schema import queue_items, runs
from turnout.executors.internal.store.items import LeaseNotHeld
from turnout.executors.internal.store.queue import QueueOperations
from turnout.executors.internal.store.records import (
    ActivityLookup,
    ClaimedItem,
    EagerClaim,
    EventSpec,
    FailActivityParams,
)
from turnout.executors.internal.store.rows import (
    activity_attrs,
    claimed_item,
    retry_state,
    with_histories,
)
from turnout.executors.internal.store.sql import ACT, ACTIVE, held, utcnow
from turnout.executors.internal.store.tx import Tx

__all__ = ["ActivityOperations"]


class ActivityOperations(QueueOperations):
    """Record activity outcomes."""

    # -- activity results ---------------------------------------------------------------------
    async def complete_activity(
        self, item: ClaimedItem, result: Any, *, eager: EagerClaim | None = None
    ) -> bool:
        """Record an activity's result once; False when this attempt no longer holds the item.

        With ``eager``, the workflow task the result wakes is claimed for that worker at once.
        """
        return (await self.complete_activities([(item, result)], eager=eager))[0]

    async def complete_activities(
        self, outcomes: Sequence[tuple[ClaimedItem, Any]], *, eager: EagerClaim | None = None
    ) -> list[bool]:
        """Record the results of many activities in one transaction, a few statements for
        all of them; for each, whether it was recorded (False: this attempt no longer
        holds the item, and nothing of it changed).

        With ``eager``, the workflow tasks the results wake are claimed for that worker.
        """

        async def tx_fn(conn: AsyncConnection, tx: Tx, guess: bool) -> tuple[list[bool], Tx]:
            # With ``guess`` every lease is taken to be held: the items' end travels with
            # the runs' update (one round trip), and a lease that was not sends the
            # transaction round again, reading the end first (see LeaseNotHeld).
            now = utcnow()
            items = [item for item, _ in outcomes]
            if guess:
                ending = await self._ending(conn, items, QueueItemState.COMPLETED, now)
                ended = {item.id for item in items}
            else:
                ended = await self._end_items(conn, items, QueueItemState.COMPLETED, now)
            specs: dict[str, list[EventSpec]] = {}
            for item, result in outcomes:
                if item.id in ended:
                    attrs = activity_attrs(item, result=result)
                    specs.setdefault(item.run_id, []).append((EventType.ACTIVITY_COMPLETED, attrs))
            woken = await self._deliver_many(conn, tx, specs, now)
            if guess and len(await ending()) < len(ended):
                raise LeaseNotHeld
            if eager is not None:
                eager.claimed.clear()  # a retried transaction starts over
                await self._claim_eagerly(conn, [info.run_id for info in woken], eager, now)
                # Wake other workers only for the tasks this one did not take.
                taken = {claimed.run_id for claimed in eager.claimed}
                tx.queues = {info.task_queue for info in woken if info.run_id not in taken}
                if self.pipelines:
                    # The new events of the runs the worker holds travel with the COMMIT:
                    # their tasks need no read of their own.
                    tx.prefetch = {r: eager.seen[r] for r in taken if r in eager.seen}
            return [item.id in ended for item, _ in outcomes], tx

        try:
            recorded, tx = await self._run_tx(tx_fn, self.pipelines)
        except LeaseNotHeld:
            recorded, tx = await self._run_tx(tx_fn, False)
        if eager is not None:
            eager.claimed[:] = with_histories(eager.claimed, tx.prefetch, tx.prefetched)
        return recorded

    async def fail_activity(
        self, item: ClaimedItem, failure: Failure, p: FailActivityParams
    ) -> bool:
        """Retry the activity after ``p.retry_in`` seconds, or record its final failure.

        ``expired_before`` (the reaper's) makes the write conditional on the lease having
        expired by then: a heartbeat that extended it in the meantime wins.

        ``heartbeat_details``, when given, are the attempt's last heartbeat (not yet
        written by the throttled flush): the next attempt starts from them.

        The final failure of an activity whose retries ran out lands the item in
        ``dead`` with a ``dead_lettered`` event; a non-retryable failure ends it
        ``failed``. False when this attempt no longer holds the item.
        """

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> bool:
            now = utcnow()
            if p.retry_in is not None:
                return await self._retry_item(conn, tx, item, failure, p.retry_in, p, now)
            state = QueueItemState.DEAD if p.dead else QueueItemState.FAILED
            if not await self._end_item(conn, item, state, now, failure, p.expired_before):
                return False
            activity_failure = Failure(
                kind="activity",
                message="Activity task failed",
                attributes={
                    "activity_type": item.name,
                    "activity_id": item.activity.activity_id,
                    "retry_state": retry_state(failure, p.dead),
                },
                cause=failure,
            )
            specs: list[EventSpec] = [
                *p.extra,
                (
                    p.final_type,
                    activity_attrs(item, failure=activity_failure.model_dump(mode="json")),
                ),
            ]
            if p.dead:
                specs.append(
                    (
                        EventType.DEAD_LETTERED,
                        {
                            "activity_seq": int(item.ref or 0),
                            "activity_type": item.name,
                            "attempt": item.attempt,
                            "queue_item_id": item.id,
                        },
                    )
                )
            await self._deliver(conn, tx, item.run_id, specs, now)
            return True

        return bool(await self._run_tx(tx_fn))

    async def _retry_item(
        self,
        conn: AsyncConnection,
        tx: Tx,
        item: ClaimedItem,
        failure: Failure,
        retry_in: float,
        p: FailActivityParams,
        now: datetime,
    ) -> bool:
        details = {} if p.heartbeat_details is None else {"heartbeat_details": p.heartbeat_details}
        lease_guard = (
            [queue_items.c.lease_expires_at < p.expired_before]
            if p.expired_before is not None
            else []
        )
        row = (
            await conn.execute(
                update(queue_items)
                .where(
                    *held(item),
                    *lease_guard,
                )
                .values(
                    state=QueueItemState.QUEUED.value,
                    attempt=item.attempt + 1,
                    available_at=now + timedelta(seconds=retry_in),
                    lease_owner=None,
                    lease_expires_at=None,
                    last_failure=failure.model_dump(mode="json"),
                    updated_at=now,
                    **details,
                )
                .returning(queue_items.c.id)
            )
        ).first()
        if row is None:
            return False
        await self._append(
            conn,
            item.run_id,
            [
                *p.extra,
                (
                    EventType.RETRY_SCHEDULED,
                    {
                        "activity_seq": int(item.ref or 0),
                        "activity_type": item.name,
                        "attempt": item.attempt,
                        "next_attempt": item.attempt + 1,
                        "delay": retry_in,
                        "failure": failure.model_dump(mode="json"),
                    },
                ),
            ],
            now=now,
        )
        tx.queues.add(item.task_queue)
        return True

    async def heartbeat(self, item: ClaimedItem, details: list[Any], lease_until: datetime) -> bool:
        """Record heartbeat details and extend the lease. Returns True when cancel is requested.

        A heartbeat after the item ended, after its run closed, or from a lost lease
        changes nothing (and asks the activity to stop).
        """
        run_open = exists().where(runs.c.run_id == item.run_id, runs.c.state.in_(ACTIVE))

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> bool:
            now = utcnow()
            row = (
                await conn.execute(
                    update(queue_items)
                    .where(
                        *held(item),
                        run_open,
                    )
                    .values(
                        heartbeat_at=now,
                        heartbeat_details=details,
                        lease_expires_at=lease_until,
                        updated_at=now,
                    )
                    .returning(queue_items.c.cancel_requested)
                )
            ).first()
            if row is None:
                return True  # the item is gone: the activity should stop
            return bool(row.cancel_requested)

        return await self._run_tx(tx_fn)

    async def activity_canceled(self, item: ClaimedItem) -> bool:
        """Record that a running activity stopped because cancellation was requested."""

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> bool:
            now = utcnow()
            if not await self._end_item(conn, item, QueueItemState.CANCELED, now):
                return False
            failure = Failure(
                kind="activity",
                message="Activity canceled",
                attributes={
                    "activity_type": item.name,
                    "activity_id": item.activity.activity_id,
                    "retry_state": "cancel_requested",
                },
                cause=Failure(kind="canceled", message="canceled"),
            )
            await self._deliver(
                conn,
                tx,
                item.run_id,
                [
                    (
                        EventType.ACTIVITY_CANCELED,
                        activity_attrs(item, failure=failure.model_dump(mode="json")),
                    )
                ],
                now,
            )
            return True

        return bool(await self._run_tx(tx_fn))

    async def running_activity(self, tenant_id: str, p: ActivityLookup) -> ClaimedItem | None:
        """The running attempt ``p`` names, of an open run of ``tenant_id``; None when
        there is none. A read: it takes no write lock."""
        found = (
            select(queue_items)
            .join(runs, runs.c.run_id == queue_items.c.run_id)
            .where(
                runs.c.tenant_id == tenant_id,
                runs.c.state.in_(ACTIVE),
                queue_items.c.kind == ACT,
                queue_items.c.state == QueueItemState.RUNNING.value,
            )
        )
        if p.item_id is not None:
            found = found.where(queue_items.c.id == p.item_id, queue_items.c.attempt == p.attempt)
        else:
            found = found.where(runs.c.workflow_id == p.workflow_id)
            if p.run_id is not None:
                found = found.where(runs.c.run_id == p.run_id)
        async with self.reader.connect() as conn:
            rows = (await conn.execute(found.order_by(queue_items.c.id))).all()
        for item in map(claimed_item, rows):
            if p.item_id is not None or item.activity.activity_id == p.activity_id:
                return item
        return None
