"""Updates in the store: the requests clients send, what workflow tasks decide about
them, and what their callers read.

A request is a ``turnout_updates`` row (``requested``), made once per ``(run, update
id)``: a second request with the same id finds the first (deduplicated, as on Temporal)
and queues nothing. Making one queues a workflow task of the run, which reads the
requests still to decide (:meth:`UpdateOperations.requested_updates`) and, in its commit,
accepts, rejects or completes them (the apply functions below, one guarded ``UPDATE``
each). Every change of a request wakes the run's waiters, as a close does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.records import QueueItemState
from turnout.contracts.updates import UpdateState
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.schema import queue_items, runs, updates
from turnout.executors.internal.store.core import StoreCore
from turnout.executors.internal.store.records import (
    RunSnapshot,
    UpdateRecord,
    UpdateRequestParams,
)
from turnout.executors.internal.store.sql import ACTIVE, WFT, no_run, utcnow
from turnout.executors.internal.store.tx import Tx

__all__ = ["UPDATES_PENDING", "UpdateOperations"]

UPDATES_PENDING = "updates_pending"
"""In a workflow task's payload: its run has update requests to decide."""

_REQUESTED = UpdateState.REQUESTED.value


def _record(row: Any) -> UpdateRecord:
    return UpdateRecord(
        run_id=row.run_id,
        update_id=row.update_id,
        name=row.name,
        state=UpdateState(row.state),
        result=row.result,
        failure=row.failure,
    )


class UpdateOperations(StoreCore):
    """Update requests, their decisions and their outcomes."""

    async def request_update(self, p: UpdateRequestParams) -> UpdateRecord | None:
        """Record an update request for an open run of the tenant (once per update id)
        and queue a workflow task to decide it; the request as it stands (an earlier one
        with the same id, perhaps decided already), or None when the run is not open."""

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> UpdateRecord | None:
            now = utcnow()
            locked = (
                await conn.execute(
                    update(runs)
                    .where(
                        runs.c.run_id == p.run_id,
                        runs.c.tenant_id == p.tenant_id,
                        runs.c.state.in_(ACTIVE),
                    )
                    .values(updated_at=now)
                    .returning(runs.c.run_id)
                )
            ).scalar_one_or_none()
            earlier = await self._update_row(conn, p.run_id, p.update_id)
            if earlier is not None:
                return earlier
            if locked is None:
                return None
            await conn.execute(
                updates.insert().values(
                    run_id=p.run_id,
                    update_id=p.update_id,
                    workflow_id=p.workflow_id,
                    tenant_id=p.tenant_id,
                    name=p.name,
                    args=p.args,
                    header=p.header or None,
                    state=_REQUESTED,
                    requested_at=now,
                )
            )
            await self._queue_decision(conn, tx, p.run_id, now)
            return UpdateRecord(p.run_id, p.update_id, p.name, UpdateState.REQUESTED)

        return await self._run_tx(tx_fn)

    async def _queue_decision(
        self, conn: AsyncConnection, tx: Tx, run_id: str, now: datetime
    ) -> None:
        """Make sure a queued workflow task of the run says it has updates to decide
        (``UPDATES_PENDING`` in its payload), so that only such a task reads them. The run's
        row, locked by the caller, keeps any other writer from queueing one meanwhile."""
        marked = (
            await conn.execute(
                update(queue_items)
                .where(
                    queue_items.c.run_id == run_id,
                    queue_items.c.kind == WFT,
                    queue_items.c.state == QueueItemState.QUEUED.value,
                )
                .values(payload={UPDATES_PENDING: True}, updated_at=now)
                .returning(queue_items.c.task_queue)
            )
        ).first()
        if marked is not None:
            tx.queues.add(marked.task_queue)
            return
        info = tx.info.get(run_id) or await self._run_info(conn, run_id)
        await self._enqueue_wfts(conn, tx, [info], now, payload={UPDATES_PENDING: True})

    async def _update_row(
        self, conn: AsyncConnection, run_id: str, update_id: str
    ) -> UpdateRecord | None:
        row = (
            await conn.execute(
                select(updates).where(updates.c.run_id == run_id, updates.c.update_id == update_id)
            )
        ).one_or_none()
        return None if row is None else _record(row)

    async def update_record(
        self, tenant_id: str, run_id: str, update_id: str
    ) -> UpdateRecord | None:
        """The update ``update_id`` of the tenant's run ``run_id``, or None."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(updates).where(
                        updates.c.run_id == run_id,
                        updates.c.update_id == update_id,
                        updates.c.tenant_id == tenant_id,
                    )
                )
            ).one_or_none()
        return None if row is None else _record(row)

    async def requested_updates(
        self, run_ids: Sequence[str]
    ) -> dict[str, list[tuple[str, str, list[Any], dict[str, Any]]]]:
        """The requests still to decide of each run, oldest first:
        ``{run_id: [(update_id, name, args, header), ...]}`` (runs without any are left
        out)."""
        found: dict[str, list[tuple[str, str, list[Any], dict[str, Any]]]] = {}
        if not run_ids:
            return found
        async with self.reader.connect() as conn:
            rows = await conn.execute(
                select(
                    updates.c.run_id,
                    updates.c.update_id,
                    updates.c.name,
                    updates.c.args,
                    updates.c.header,
                )
                .where(
                    self._among(updates.c.run_id, sorted(set(run_ids)), no_run),
                    updates.c.state == _REQUESTED,
                )
                .order_by(updates.c.requested_at, updates.c.update_id)
            )
            for row in rows:
                found.setdefault(row.run_id, []).append(
                    (row.update_id, row.name, list(row.args or []), dict(row.header or {}))
                )
        return found

    # -- applied in a workflow task's commit (store/apply.py's table) ---------------------
    async def _decide_update(
        self,
        conn: AsyncConnection,
        tx: Tx,
        run: RunSnapshot,
        update_id: str,
        sources: tuple[str, ...],
        now: datetime,
        **values: Any,
    ) -> None:
        await conn.execute(
            update(updates)
            .where(
                updates.c.run_id == run.run_id,
                updates.c.update_id == update_id,
                updates.c.state.in_(sources),
            )
            .values(**values)
        )
        tx.runs.add(run.run_id)

    async def _accept_update(
        self, conn: AsyncConnection, tx: Tx, run: RunSnapshot, c: cmd.AcceptUpdate, now: datetime
    ) -> None:
        await self._decide_update(
            conn, tx, run, c.update_id, (_REQUESTED,), now, state=UpdateState.ACCEPTED.value
        )

    async def _reject_update(
        self, conn: AsyncConnection, tx: Tx, run: RunSnapshot, c: cmd.RejectUpdate, now: datetime
    ) -> None:
        await self._decide_update(
            conn,
            tx,
            run,
            c.update_id,
            (_REQUESTED,),
            now,
            state=UpdateState.REJECTED.value,
            failure=c.failure.model_dump(mode="json"),
            finished_at=now,
        )

    async def _complete_update(
        self,
        conn: AsyncConnection,
        tx: Tx,
        run: RunSnapshot,
        c: cmd.CompleteUpdate,
        now: datetime,
    ) -> None:
        await self._decide_update(
            conn,
            tx,
            run,
            c.update_id,
            (_REQUESTED, UpdateState.ACCEPTED.value),
            now,
            state=UpdateState.COMPLETED.value,
            result=c.result,
            failure=None if c.failure is None else c.failure.model_dump(mode="json"),
            finished_at=now,
        )
