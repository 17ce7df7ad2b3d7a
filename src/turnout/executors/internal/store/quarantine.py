"""Quarantine: an item that a batched write cannot take is set aside, so the rest go on.

A claim or a timer pass is one statement for many items; when it fails for another
reason than the database being out of reach, the items are taken again one at a time
and the one that still fails is set aside: state ``dead``, a ``dead_lettered`` event
with the reason (``quarantined``: true) and, for an activity, a final
``activity_failed`` its workflow sees as an ActivityError. Nothing else waits on it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.errors import Failure, error_line
from turnout.contracts.events import EventType
from turnout.contracts.records import QueueItemState
from turnout.executors.internal.schema import queue_items
from turnout.executors.internal.store.core import StoreCore
from turnout.executors.internal.store.errors import UNREACHABLE
from turnout.executors.internal.store.records import ClaimedItem, EventSpec
from turnout.executors.internal.store.rows import claimed_item
from turnout.executors.internal.store.sql import ACT, LEASED, utcnow
from turnout.executors.internal.store.tx import Tx

__all__ = ["QuarantineOperations", "printable"]

_log = logging.getLogger("turnout.store")
T = TypeVar("T")


class QuarantineOperations(StoreCore):
    """Set aside the one item a batch cannot take."""

    async def quarantine_item(self, item: ClaimedItem, reason: str) -> bool:
        """Set ``item`` aside (queued or leased): ``dead``, lease cleared, its run told why.
        False when it had already moved on. Plain values only, so that what broke the
        item cannot break this too."""
        reason = printable(reason)
        failure = Failure(
            kind="application", message=reason, type="Quarantined", non_retryable=True
        )

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> bool:
            now = utcnow()
            row = (
                await conn.execute(
                    update(queue_items)
                    .where(
                        queue_items.c.id == item.id,
                        queue_items.c.state.in_([*LEASED, QueueItemState.QUEUED.value]),
                    )
                    .values(
                        state=QueueItemState.DEAD.value,
                        lease_owner=None,
                        lease_expires_at=None,
                        last_failure=failure.model_dump(mode="json"),
                        updated_at=now,
                    )
                    .returning(queue_items.c.id)
                )
            ).first()
            if row is None:
                return False
            dead: EventSpec = (
                EventType.DEAD_LETTERED,
                {
                    "kind": item.kind,
                    "queue_item_id": item.id,
                    "attempt": item.attempt,
                    "reason": reason,
                    "quarantined": True,
                },
            )
            if item.kind != ACT:
                await self._append(conn, item.run_id, [dead], now=now)
                return True
            activity_failure = Failure(
                kind="activity",
                message="Activity task failed",
                attributes={
                    "activity_type": item.name,
                    "activity_id": printable(item.activity.activity_id),
                    "retry_state": "non_retryable_failure",
                },
                cause=failure,
            )
            attrs = {
                "activity_seq": int(item.ref or 0) if (item.ref or "0").isdigit() else 0,
                "activity_id": activity_failure.attributes["activity_id"],
                "activity_type": item.name,
                "attempt": item.attempt,
                "failure": activity_failure.model_dump(mode="json"),
            }
            await self._deliver(
                conn, tx, item.run_id, [(EventType.ACTIVITY_FAILED, attrs), dead], now
            )
            return True

        return bool(await self._run_tx(tx_fn))

    async def _ready_items(
        self, task_queue: str, kind: str, limit: int, tenant_id: str | None
    ) -> list[ClaimedItem]:
        """Up to ``limit`` ready items of ``kind``, in claim order (a read: no lock)."""
        stmt = select(queue_items).where(
            queue_items.c.state == QueueItemState.QUEUED.value,
            queue_items.c.task_queue == task_queue,
            queue_items.c.kind == kind,
            queue_items.c.available_at <= utcnow(),
        )
        if tenant_id is not None:
            stmt = stmt.where(queue_items.c.tenant_id == tenant_id)
        stmt = stmt.order_by(
            queue_items.c.priority.desc(), queue_items.c.available_at, queue_items.c.id
        )
        async with self.reader.connect() as conn:
            return [claimed_item(r) for r in (await conn.execute(stmt.limit(limit))).all()]

    async def _each_alone(
        self,
        items: Sequence[ClaimedItem],
        write: Callable[[ClaimedItem], Awaitable[T]],
        what: str,
    ) -> list[T]:
        """``write`` each item in a transaction of its own; one that fails is quarantined."""
        done: list[T] = []
        for item in items:
            try:
                done.append(await write(item))
            except UNREACHABLE:
                raise
            except Exception as exc:
                reason = f"{what} queue item {item.id} failed: {error_line(exc)}"
                _log.error("%s; the item is set aside (dead), the others go on", reason)
                try:
                    await self.quarantine_item(item, reason)
                except UNREACHABLE:
                    raise
                except Exception:
                    _log.exception("could not set aside queue item %s", item.id)
        return done


def printable(text: str, limit: int = 1000) -> str:
    """``text`` without the characters a database may refuse, at most ``limit`` long."""
    cleaned = "".join(ch if ch.isprintable() or ch in "\t\n" else "?" for ch in text)
    return cleaned[:limit]
