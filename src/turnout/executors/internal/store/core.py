"""The store's shared primitives: event appends, guarded run transitions, closing a
run (and what its close does to its children), creating runs, ending leased items. Every
other store module builds on these; the records, errors, SQL helpers and row mappers they
import from here live in their own modules and are re-exported."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.errors import Failure
from turnout.contracts.events import Event, EventType
from turnout.contracts.records import QueueItemState
from turnout.contracts.schedule_times import cron_next
from turnout.contracts.states import TERMINAL_STATES, RunState, sources_of
from turnout.executors.internal.schema import events, queue_items, runs
from turnout.executors.internal.store.errors import (
    UNREACHABLE,
    RefusedValueError,
    StaleTaskError,
    UnhandledSignalError,
    refused_value,
    unstorable,
)
from turnout.executors.internal.store.new_runs import new_run_info, run_row, started_attributes
from turnout.executors.internal.store.prepared import Prepared, among, one_of
from turnout.executors.internal.store.records import (
    ClaimedItem,
    Closed,
    EagerClaim,
    EventSpec,
    NewRun,
    RunInfo,
    StartParams,
    StartResult,
)
from turnout.executors.internal.store.rows import (
    child_kind,
    decision_row,
    event_from_row,
    event_rows,
)
from turnout.executors.internal.store.search import SearchIndex
from turnout.executors.internal.store.sql import (
    ACTIVE,
    APPROVAL_TIMER,
    INFO_COLUMNS,
    LEASED,
    WFT,
    activity_lease,
    grouped_case,
    held,
    no_item,
    no_run,
    padded,
    utcnow,
)
from turnout.executors.internal.store.tx import Tx

__all__ = [
    "APPROVAL_TIMER",
    "UNREACHABLE",
    "ClaimedItem",
    "Closed",
    "EagerClaim",
    "EventSpec",
    "NewRun",
    "RefusedValueError",
    "StaleTaskError",
    "StartParams",
    "StartResult",
    "StoreCore",
    "UnhandledSignalError",
    "activity_lease",
    "decision_row",
    "event_from_row",
    "grouped_case",
    "held",
    "no_item",
    "no_run",
    "padded",
    "refused_value",
    "unstorable",
    "utcnow",
]


class StoreCore(SearchIndex):
    """Primitives shared by every store operation; see the module docstring."""

    # -- shared pieces ------------------------------------------------------------------
    async def _append(
        self,
        conn: AsyncConnection,
        run_id: str,
        specs: Sequence[EventSpec],
        *,
        now: datetime,
        open_only: bool = True,
        values: dict[str, Any] | None = None,
        extra_where: Any = None,
        tx: Tx | None = None,
    ) -> range | None:
        """Append events to a run (allocating seqs under the run's row lock).

        With ``open_only`` the append is refused (None) when the run is closed: a
        straggler never writes after the end. ``values`` updates the run too. With
        ``tx`` the event rows wait in it and are inserted, all in one statement, just
        before the transaction commits; the run's fixed columns are kept there too.
        """
        n = len(specs)
        stmt = update(runs).where(runs.c.run_id == run_id)
        if open_only:
            stmt = stmt.where(runs.c.state.in_(ACTIVE))
        if extra_where is not None:
            stmt = stmt.where(extra_where)
        stmt = stmt.values(next_seq=runs.c.next_seq + n, updated_at=now, **(values or {}))
        row = (await conn.execute(stmt.returning(runs.c.next_seq, *INFO_COLUMNS))).first()
        if row is None:
            return None
        info = RunInfo(*row[1:])
        first = row.next_seq - n
        rows = event_rows(info, first, specs, now)
        if tx is None:
            await self._insert_rows(conn, events, rows)
        else:
            tx.info[run_id] = info
            tx.events.extend(rows)
        return range(first, first + n)

    async def _enqueue_wft(
        self,
        conn: AsyncConnection,
        tx: Tx,
        run_id: str,
        now: datetime,
        available_at: datetime | None = None,
    ) -> None:
        info = tx.info.get(run_id) or await self._run_info(conn, run_id)
        await self._enqueue_wfts(conn, tx, [info], now, available_at)

    async def _enqueue_wfts(
        self,
        conn: AsyncConnection,
        tx: Tx,
        infos: Sequence[RunInfo],
        now: datetime,
        available_at: datetime | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Make sure a workflow task of each run is queued (one pending task per run)."""
        if not infos:
            return
        await self._insert_rows(
            conn,
            queue_items,
            [
                {
                    "kind": WFT,
                    "state": QueueItemState.QUEUED.value,
                    "tenant_id": info.tenant_id,
                    "task_queue": info.task_queue,
                    "run_id": info.run_id,
                    "workflow_id": info.workflow_id,
                    "name": info.workflow_type,
                    "payload": payload or {},
                    "sticky_worker": info.sticky_worker,
                    "available_at": available_at or now,
                    "created_at": now,
                    "updated_at": now,
                }
                for info in infos
            ],
            skip_conflicts=True,
        )
        tx.queues.update(info.task_queue for info in infos)

    async def _deliver_many(
        self,
        conn: AsyncConnection,
        tx: Tx,
        specs: dict[str, list[EventSpec]],
        now: datetime,
        guard: Mapping[str, str] | None = None,
    ) -> list[RunInfo]:
        """Append inbound events to many open runs at once (with ``guard``, only to runs
        with those column values) and queue their workflow tasks; the runs appended to."""
        infos = await self._append_many(conn, tx, specs, now, guard=guard)
        await self._enqueue_wfts(conn, tx, infos, now)
        return infos

    async def _append_many(
        self,
        conn: AsyncConnection,
        tx: Tx,
        specs: dict[str, list[EventSpec]],
        now: datetime,
        *,
        claiming: bool = False,
        guard: Mapping[str, str] | None = None,
    ) -> list[RunInfo]:
        """:meth:`_append` to many open runs in one statement (their events wait in
        ``tx``); the runs it appended to. With ``claiming``, only to queued runs, which
        become claimed; with ``guard``, only to runs with those column values."""
        if not specs:
            return []
        counts = {run_id: len(s) for run_id, s in specs.items()}
        rows = await self._bump_runs(conn, counts, now, claiming, guard or {})
        infos = [RunInfo(*row[1:]) for row in rows]
        for info, row in zip(infos, rows, strict=True):
            self._appended(tx, info, row.next_seq, specs[info.run_id], now)
        return infos

    def _appended(
        self, tx: Tx, info: RunInfo, next_seq: int, specs: Sequence[EventSpec], now: datetime
    ) -> None:
        """``specs`` appended to the run of ``info``, locked, whose next seq is now
        ``next_seq`` (their seqs taken): their events wait in ``tx``."""
        tx.info[info.run_id] = info
        tx.events.extend(event_rows(info, next_seq - len(specs), specs, now))

    async def _bump_runs(
        self,
        conn: AsyncConnection,
        counts: dict[str, int],
        now: datetime,
        claiming: bool,
        guard: Mapping[str, str],
    ) -> Sequence[Any]:
        """Dialect hook: add ``counts[run_id]`` to each open run's next seq, only where the
        run's columns hold the values of ``guard`` (see :meth:`_append_many`); rows of the
        new next seq and the :class:`RunInfo` columns."""
        stmt = update(runs).where(
            self._among(runs.c.run_id, sorted(counts), no_run),
            runs.c.state.in_(ACTIVE),
            *(runs.c[name] == value for name, value in guard.items()),
        )
        values: dict[str, Any] = {}
        if claiming:
            stmt = stmt.where(runs.c.state == RunState.QUEUED.value)
            values = {
                "state": RunState.CLAIMED.value,
                "started_at": func.coalesce(runs.c.started_at, now),
            }
        counted = grouped_case(runs.c.run_id, counts, else_=0, among=self._among)
        stmt = stmt.values(next_seq=runs.c.next_seq + counted, updated_at=now, **values)
        return (await conn.execute(stmt.returning(runs.c.next_seq, *INFO_COLUMNS))).all()

    async def _run_info(self, conn: AsyncConnection, run_id: str) -> RunInfo:
        row = (await conn.execute(select(*INFO_COLUMNS).where(runs.c.run_id == run_id))).one()
        return RunInfo(*row)

    async def _deliver(
        self,
        conn: AsyncConnection,
        tx: Tx,
        run_id: str,
        specs: Sequence[EventSpec],
        now: datetime,
        values: dict[str, Any] | None = None,
        extra_where: Any = None,
    ) -> bool:
        """Append inbound events to an open run and make sure a workflow task will see them."""
        seqs = await self._append(
            conn, run_id, specs, now=now, values=values, extra_where=extra_where, tx=tx
        )
        if seqs is None:
            return False
        await self._enqueue_wft(conn, tx, run_id, now)
        return True

    async def _transition(
        self,
        conn: AsyncConnection,
        run_id: str,
        target: RunState,
        now: datetime,
        specs: Sequence[EventSpec] = (),
        values: dict[str, Any] | None = None,
        tx: Tx | None = None,
    ) -> range | None:
        """Move a run to ``target`` if the table allows it from its current state (in SQL)."""
        sources = [s.value for s in sources_of(target)]
        current = (
            await conn.execute(
                select(runs.c.state).where(runs.c.run_id == run_id).with_for_update()
            )
        ).scalar_one_or_none()
        if current is None or current not in sources:
            return None
        change = (EventType.STATE_CHANGED, {"from": current, "to": target.value})
        vals = {"state": target.value, **(values or {})}
        if target in TERMINAL_STATES:
            vals["closed_at"] = now
        return await self._append(
            conn,
            run_id,
            [*specs, change],
            now=now,
            open_only=False,
            values=vals,
            extra_where=runs.c.state == current,
            tx=tx,
        )

    async def _close_run(
        self,
        conn: AsyncConnection,
        tx: Tx,
        run_id: str,
        target: RunState,
        now: datetime,
        specs: Sequence[EventSpec],
        *,
        result: Any = None,
        failure: Failure | None = None,
    ) -> range | None:
        values: dict[str, Any] = {"result": result}
        if failure is not None:
            values["failure"] = failure.model_dump(mode="json")
        seqs = await self._transition(conn, run_id, target, now, specs, values, tx=tx)
        if seqs is None:
            return None
        await self._closed(conn, tx, run_id, target, now, result, failure)
        return seqs

    async def _closed(
        self,
        conn: AsyncConnection,
        tx: Tx,
        run_id: str,
        target: RunState,
        now: datetime,
        result: Any,
        failure: Failure | None,
    ) -> None:
        """What follows a run's close, in its transaction: nothing of the run stays
        runnable (queued items end, running ones hear a cancel), waiters are woken, and
        a parent hears of its child."""
        await self._closed_many(conn, tx, [Closed(run_id, target, result, failure)], now)

    async def _closed_many(
        self, conn: AsyncConnection, tx: Tx, closed: Sequence[Closed], now: datetime
    ) -> None:
        """:meth:`_closed` for many runs, one statement for the items of all of them."""
        if not closed:
            return
        run_ids = [c.run_id for c in closed]
        await self._write_later(conn, _END_ITEMS_OF_RUNS, {"runs": run_ids, "now": now})
        tx.runs.update(run_ids)
        for c in closed:
            await self._tell_parent(conn, tx, c, now)
        await self._close_children(conn, tx, [c.run_id for c in closed if c.children], now)

    async def _close_children(
        self, conn: AsyncConnection, tx: Tx, parent_run_ids: Sequence[str], now: datetime
    ) -> None:
        """Closed runs' open children, as their parent close policy says (TERMINATE...)."""
        if not parent_run_ids:
            return
        children = (
            await conn.execute(
                select(runs.c.run_id, runs.c.options).where(
                    self._among(runs.c.parent_run_id, list(parent_run_ids), no_run),
                    runs.c.state.in_(ACTIVE),
                )
            )
        ).all()
        for child in children:
            policy = (child.options or {}).get("parent_close_policy", "terminate")
            if policy == "terminate":
                terminated = (EventType.WORKFLOW_TERMINATED, {"reason": "parent closed"})
                gone = Failure(kind="terminated", message="parent closed")
                await self._close_run(
                    conn, tx, child.run_id, RunState.TERMINATED, now, [terminated], failure=gone
                )
            elif policy == "request_cancel":
                await self._deliver(
                    conn,
                    tx,
                    child.run_id,
                    [(EventType.WORKFLOW_CANCEL_REQUESTED, {"by_parent": True})],
                    now,
                    values={"cancel_requested": True},
                )

    async def _tell_parent(self, conn: AsyncConnection, tx: Tx, c: Closed, now: datetime) -> None:
        """A closed child run's parent hears of it (a continued run has not closed)."""
        run_id, target, result, failure, _ = c
        row = tx.info.get(run_id) or await self._run_info(conn, run_id)
        if row.parent_run_id is None or target is RunState.CONTINUED_AS_NEW:
            return
        attrs: dict[str, Any] = {
            "child_seq": int(row.parent_ref or 0),
            "workflow_id": row.workflow_id,
            "run_id": run_id,
            "workflow_type": row.workflow_type,
        }
        if target is RunState.COMPLETED:
            etype = EventType.CHILD_WORKFLOW_COMPLETED
            attrs["result"] = result
        else:
            etype = {
                RunState.FAILED: EventType.CHILD_WORKFLOW_FAILED,
                RunState.CANCELED: EventType.CHILD_WORKFLOW_CANCELED,
                RunState.TERMINATED: EventType.CHILD_WORKFLOW_TERMINATED,
                RunState.TIMED_OUT: EventType.CHILD_WORKFLOW_TIMED_OUT,
            }[target]
            cause = failure or Failure(kind=child_kind(target), message=target.value)
            attrs["failure"] = Failure(
                kind="child_workflow",
                message="Child Workflow execution failed",
                attributes={
                    "workflow_id": row.workflow_id,
                    "run_id": run_id,
                    "workflow_type": row.workflow_type,
                },
                cause=cause,
            ).model_dump(mode="json")
        await self._deliver(conn, tx, row.parent_run_id, [(etype, attrs)], now)

    async def _create_run(
        self,
        conn: AsyncConnection,
        tx: Tx,
        *,
        task_id: str,
        p: StartParams,
        correlation_id: str,
        now: datetime,
        continued_from: str | None = None,
        attempt: int = 1,
    ) -> str:
        new = NewRun(p, task_id, correlation_id, continued_from, attempt)
        (run_id,) = await self._create_runs(conn, tx, [new], now)
        return run_id

    async def _create_runs(
        self, conn: AsyncConnection, tx: Tx, new: Sequence[NewRun], now: datetime
    ) -> list[str]:
        """Create queued runs with their ``workflow_started`` events and first workflow
        tasks (a few statements for all of them); their run ids."""
        rows, infos = [], []
        for n in new:
            info = new_run_info(n)
            rows.append(run_row(n, info, now))
            started = started_attributes(n)
            tx.info[info.run_id] = info
            tx.events.extend(event_rows(info, 1, [(EventType.WORKFLOW_STARTED, started)], now))
            infos.append(info)
        await self._insert_rows(conn, runs, rows)
        for n, info in zip(new, infos, strict=True):
            if n.params.search_attributes:
                await self._index_search_attributes(
                    conn, info.tenant_id, info.run_id, n.params.search_attributes, fresh=True
                )
            if n.params.cron_schedule:  # a cron run's first task waits for its time
                at = cron_next(n.params.cron_schedule, now)
                await self._enqueue_wfts(conn, tx, [info], now, available_at=at)
        await self._enqueue_wfts(
            conn,
            tx,
            [i for n, i in zip(new, infos, strict=True) if not n.params.cron_schedule],
            now,
        )
        return [info.run_id for info in infos]

    async def _events(
        self, conn: AsyncConnection, run_id: str, after_seq: int = 0, tenant_id: str | None = None
    ) -> list[Event]:
        stmt = select(events).where(events.c.run_id == run_id, events.c.seq > after_seq)
        if tenant_id is not None:
            stmt = stmt.where(events.c.tenant_id == tenant_id)
        rows = (await conn.execute(stmt.order_by(events.c.seq))).all()
        return [event_from_row(r) for r in rows]


def _end_items_of_runs(dialect: str) -> Any:
    q = queue_items
    queued = q.c.state == QueueItemState.QUEUED.value
    open_states = [QueueItemState.QUEUED.value, *LEASED]
    return (
        update(q)
        .where(among(dialect, q.c.run_id, "runs"), one_of(q.c.state, open_states))
        .values(
            state=case((queued, QueueItemState.CANCELED.value), else_=q.c.state),
            cancel_requested=case((queued, q.c.cancel_requested), else_=True),
            updated_at=bindparam("now", type_=q.c.updated_at.type),
        )
    )


_END_ITEMS_OF_RUNS = Prepared(_end_items_of_runs)
"""Nothing of the closed runs ``:runs`` stays runnable: queued items are canceled,
leased ones hear a cancel."""
