"""Ending leased queue items: the guarded write every outcome of a worker's item makes."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.errors import Failure
from turnout.contracts.records import QueueItemState
from turnout.executors.internal.schema import queue_items
from turnout.executors.internal.store.prepared import Prepared, among, rows_among, rows_param
from turnout.executors.internal.store.records import ClaimedItem
from turnout.executors.internal.store.tx import StoreTransactions

__all__ = ["ItemCore", "LeaseNotHeld"]

_log = logging.getLogger("turnout.store")


class LeaseNotHeld(Exception):
    """A transaction that took every lease to be held (the items' end sent with its next
    statement, see :meth:`ItemCore._ending`) found one that was not. It is rolled back,
    and made again reading the end first."""


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
    ) -> set[int]:
        """End the items this worker still holds (see :func:`held`); the ids it ended.
        Each one it no longer holds is logged as a rejected late result."""
        later = await self._ending(conn, items, state, now, failure, expired_before)
        ended = await later()
        for item in items:
            if item.id not in ended:
                _log.warning(
                    "late result for %s %s attempt %s of run %s rejected: the lease was lost",
                    item.kind,
                    item.name,
                    item.attempt,
                    item.run_id,
                )
        return ended

    async def _ending(
        self,
        conn: AsyncConnection,
        items: Sequence[ClaimedItem],
        state: QueueItemState,
        now: datetime,
        failure: Failure | None = None,
        expired_before: datetime | None = None,
    ) -> Callable[[], Awaitable[set[int]]]:
        """:meth:`_end_items` sent with the transaction's next round trip (where the
        dialect pipelines); the ids it ended, read once that is back (no warnings)."""
        params: dict[str, Any] = {
            "new_state": state.value,
            "now": now,
            "failure": failure.model_dump(mode="json") if failure else None,
        }
        if expired_before is not None:
            params["expired_before"] = expired_before
        if len(items) == 1:
            (item,) = items
            params.update(item_id=item.id, owner=item.lease_owner, item_attempt=item.attempt)
        else:
            params["ids"] = [i.id for i in items]
            held = [(i.id, i.lease_owner, i.attempt) for i in items]
            params.update(rows_param(self.dialect, "held", held))
        ending = _end_statement(len(items) == 1, expired_before is not None)
        later = await self._fetch_later(conn, ending, params)

        async def ended() -> set[int]:
            return {row.id for row in await later()}

        return ended


@functools.cache
def _end_statement(single: bool, expired: bool) -> Prepared:
    """End the items still ``running`` under their lease and attempt: one item
    (``:item_id``, ``:owner``, ``:item_attempt``) or many (``:ids`` and ``held``, see
    :func:`rows_among`); with ``expired``, only if its lease ended before
    ``:expired_before``. Sets ``:new_state``, ``:now`` and ``:failure``."""

    def build(dialect: str) -> Any:
        q = queue_items
        at = q.c.updated_at.type
        running = q.c.state == QueueItemState.RUNNING.value
        if single:
            guard = [
                q.c.id == bindparam("item_id"),
                running,
                q.c.lease_owner == bindparam("owner"),
                q.c.attempt == bindparam("item_attempt"),
            ]
        else:
            guard = [
                # The plain IN lets SQLite use the primary key (it scans for a row-value IN).
                among(dialect, q.c.id, "ids"),
                rows_among(dialect, (q.c.id, q.c.lease_owner, q.c.attempt), "held"),
                running,
            ]
        if expired:
            guard.append(q.c.lease_expires_at < bindparam("expired_before", type_=at))
        return (
            update(q)
            .where(*guard)
            .values(
                state=bindparam("new_state"),
                lease_owner=None,
                lease_expires_at=None,
                updated_at=bindparam("now", type_=at),
                last_failure=bindparam("failure", type_=q.c.last_failure.type),
            )
            .returning(q.c.id)
        )

    return Prepared(build)
