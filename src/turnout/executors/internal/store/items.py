"""Ending leased queue items: the guarded write every outcome of a worker's item makes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.errors import Failure
from turnout.contracts.records import QueueItemState
from turnout.executors.internal.schema import queue_items
from turnout.executors.internal.store.records import ClaimedItem
from turnout.executors.internal.store.sql import held, no_item
from turnout.executors.internal.store.tx import StoreTransactions

__all__ = ["ItemCore"]

_log = logging.getLogger("turnout.store")


class ItemCore(StoreTransactions):
    """End the items a worker still holds."""

    async def _end_item(
        self,
        conn: AsyncConnection,
        item: ClaimedItem,
        state: QueueItemState,
        now: datetime,
        failure: Failure | None = None,
        expired_before: datetime | None = None,
    ) -> bool:
        return bool(await self._end_items(conn, [item], state, now, failure, expired_before))

    async def _end_items(
        self,
        conn: AsyncConnection,
        items: Sequence[ClaimedItem],
        state: QueueItemState,
        now: datetime,
        failure: Failure | None = None,
        expired_before: datetime | None = None,
        *,
        warn: bool = True,
    ) -> set[int]:
        """End the items this worker still holds (see :func:`held`); the ids it ended.
        With ``warn``, each one it no longer holds is logged as a rejected late result."""
        guard = (
            [queue_items.c.lease_expires_at < expired_before] if expired_before is not None else []
        )
        if len(items) == 1:
            guard += held(items[0])
        else:
            guard += [
                # The plain IN lets SQLite use the primary key (it scans for a row-value IN).
                self._among(queue_items.c.id, [i.id for i in items], no_item),
                self._rows_among(
                    (queue_items.c.id, queue_items.c.lease_owner, queue_items.c.attempt),
                    [(i.id, i.lease_owner, i.attempt) for i in items],
                    lambda i: (no_item(i), "", 0),
                ),
                queue_items.c.state == QueueItemState.RUNNING.value,
            ]
        rows = (
            await conn.execute(
                update(queue_items)
                .where(*guard)
                .values(
                    state=state.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                    last_failure=failure.model_dump(mode="json") if failure else None,
                )
                .returning(queue_items.c.id)
            )
        ).all()
        ended = {row.id for row in rows}
        for item in items:
            if warn and item.id not in ended:
                _log.warning(
                    "late result for %s %s attempt %s of run %s rejected: the lease was lost",
                    item.kind,
                    item.name,
                    item.attempt,
                    item.run_id,
                )
        return ended
