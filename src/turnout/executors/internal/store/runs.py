"""Client-side store operations: start (with id policies and idempotency), read, signal,
cancel, terminate."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.errors import (
    Failure,
    WorkflowAlreadyStartedError,
    WorkflowNotFoundError,
)
from turnout.contracts.events import Event, EventType
from turnout.contracts.records import (
    IdConflictPolicy,
    IdReusePolicy,
    Run,
)
from turnout.contracts.states import RunState
from turnout.contracts.visibility import Query
from turnout.executors.internal.schema import runs, tasks
from turnout.executors.internal.store.core import StoreCore
from turnout.executors.internal.store.errors import (
    UNREACHABLE,
    RefusedValueError,
    refused_value,
    unstorable,
)
from turnout.executors.internal.store.new_runs import signal_attributes
from turnout.executors.internal.store.prepared import Prepared, among, rows_among, rows_param
from turnout.executors.internal.store.records import (
    EventSpec,
    NewRun,
    RunFilter,
    RunInfo,
    RunSnapshot,
    SignalParams,
    StartParams,
    StartResult,
)
from turnout.executors.internal.store.rows import event_from_row, run_from_row, run_snapshot
from turnout.executors.internal.store.search import compile_order, compile_where
from turnout.executors.internal.store.sql import OPEN_RUN_BUMP, no_run, utcnow
from turnout.executors.internal.store.tx import Tx

__all__ = ["RunOperations"]

_FAILED_LIKE = {RunState.FAILED, RunState.CANCELED, RunState.TERMINATED, RunState.TIMED_OUT}
"""Closed states an ``ALLOW_DUPLICATE_FAILED_ONLY`` start may follow."""


class RunOperations(StoreCore):
    """Start, read and steer runs."""

    # -- client operations ----------------------------------------------------------------
    async def start_workflow(self, p: StartParams) -> StartResult:
        """Create a task and its first run, honouring idempotency key and id policies."""
        for attempt in range(3):
            try:
                result: StartResult = await self._run_tx(self._start_tx, p)
                return result
            except IntegrityError:
                # Another start won the race for this id or key: look again.
                if attempt == 2:
                    raise
            except Exception as exc:
                if not unstorable(exc):
                    raise
                raise refused_value(f"the start of workflow {p.workflow_id!r}", exc) from exc
        raise AssertionError("unreachable")

    async def _start_tx(self, conn: AsyncConnection, tx: Tx, p: StartParams) -> StartResult:
        now = utcnow()
        keyed = await self._run_of_key(conn, p)
        if keyed is not None:
            return StartResult(keyed, created=False)
        latest = (
            await conn.execute(
                select(runs.c.run_id, runs.c.state)
                .where(runs.c.tenant_id == p.tenant_id, runs.c.workflow_id == p.workflow_id)
                .order_by(runs.c.requested_at.desc())
                .limit(1)
            )
        ).first()
        if latest is not None:
            state = RunState(latest.state)
            refused = _refusal(p, latest.run_id, state)
            if refused is not None:
                # A start with the same key may have committed between the two reads (each
                # statement sees what is committed when it runs, on PostgreSQL): its run is
                # the answer, not a conflict.
                keyed = await self._run_of_key(conn, p)
                if keyed is not None:
                    return StartResult(keyed, created=False)
                raise refused
            if not state.is_terminal:
                if p.id_conflict_policy is IdConflictPolicy.USE_EXISTING:
                    await self._start_signal(conn, tx, latest.run_id, p, now)
                    return StartResult(latest.run_id, created=False)
                await self._close_run(
                    conn,
                    tx,
                    latest.run_id,
                    RunState.TERMINATED,
                    now,
                    [(EventType.WORKFLOW_TERMINATED, {"reason": "terminated by a new start"})],
                    failure=Failure(kind="terminated", message="terminated by a new start"),
                )
        new = _new_run(p)
        await conn.execute(insert(tasks), [_task_row(new, now)])
        (run_id,) = await self._create_runs(conn, tx, [new], now)
        await self._start_signal(conn, tx, run_id, p, now)
        return StartResult(run_id, created=True)

    async def _start_signal(
        self, conn: AsyncConnection, tx: Tx, run_id: str, p: StartParams, now: datetime
    ) -> None:
        """Deliver a signal-with-start's signal to the run the start made or uses."""
        if p.signal is not None:
            name, args = p.signal
            spec = (EventType.SIGNAL_RECEIVED, signal_attributes(name, args, p.header))
            await self._deliver(conn, tx, run_id, [spec], now)

    async def _run_of_key(self, conn: AsyncConnection, p: StartParams) -> str | None:
        """The latest run started with ``p``'s idempotency key, if there is one."""
        if p.idempotency_key is None:
            return None
        existing_task = (
            await conn.execute(
                select(tasks.c.task_id).where(
                    tasks.c.tenant_id == p.tenant_id,
                    tasks.c.idempotency_key == p.idempotency_key,
                )
            )
        ).scalar_one_or_none()
        if existing_task is None:
            return None
        run_id: str = (
            await conn.execute(
                select(runs.c.run_id)
                .where(runs.c.task_id == existing_task)
                .order_by(runs.c.requested_at.desc(), runs.c.run_id)
                .limit(1)
            )
        ).scalar_one()
        return run_id

    async def start_workflows(self, params: Sequence[StartParams]) -> list[StartResult | Exception]:
        """Start many workflows in one transaction, a few statements for all of them;
        for each, its run or the error that refused it (nothing of it stored).

        For plain starts: no idempotency key and no terminate-existing policy (those go
        through :meth:`start_workflow`). Under the default id policies nothing is read
        first: an id with an open run makes the batch look at its ids' runs and start
        again, refusing that one. Should a concurrent start take one of the ids in
        between, or the database refuse a start's value, they are started one by one.
        """
        for p in params:
            if (
                p.idempotency_key is not None
                or p.signal is not None
                or p.id_conflict_policy is IdConflictPolicy.TERMINATE_EXISTING
            ):
                raise ValueError(f"start of {p.workflow_id!r} needs start_workflow")
        looks = [False, True] if all(map(_refused_by_index_alone, params)) else [True]
        for look in looks:
            try:
                started: list[StartResult | Exception] = await self._run_tx(
                    self._start_many_tx, params, look
                )
                return started
            except UNREACHABLE:
                raise  # every start of the batch would meet it
            except IntegrityError:
                continue  # an id with an open run (or one taken meanwhile): look first
            except Exception:
                break
        # A concurrent start took one of the ids, or the database refused one start's
        # value: start them one by one, so that only that one is refused.
        return [await self._start_or_refusal(p) for p in params]

    async def _start_or_refusal(self, p: StartParams) -> StartResult | Exception:
        try:
            return await self.start_workflow(p)
        except UNREACHABLE:
            raise
        except (WorkflowAlreadyStartedError, RefusedValueError) as exc:
            return exc

    async def _start_many_tx(
        self, conn: AsyncConnection, tx: Tx, params: Sequence[StartParams], look: bool
    ) -> list[StartResult | Exception]:
        now = utcnow()
        keys = sorted({(p.tenant_id, p.workflow_id) for p in params})
        latest: dict[tuple[str, str], tuple[datetime, str, str]] = {}
        # Without ``look`` (the default policies: only an open run of the id refuses a
        # start, and the unique index of open runs refuses it in the database), nothing is
        # read first, a round trip less; a refused insert fails the batch, and
        # start_workflows makes it again with a look.
        looked: Sequence[Any] = []
        if look:
            ids = {
                "tenants": sorted({t for t, _ in keys}),
                "workflow_ids": [w for _, w in keys],
                **rows_param(self.dialect, "keys", keys),
            }
            looked = await self._fetch(conn, _RUNS_OF_IDS, ids)
        for row in looked:
            key = (row.tenant_id, row.workflow_id)
            if key not in latest or row.requested_at > latest[key][0]:
                latest[key] = (row.requested_at, row.run_id, row.state)
        results: list[StartResult | Exception] = []
        created: list[NewRun] = []
        for p in params:
            key = (p.tenant_id, p.workflow_id)
            if key in latest:
                _, run_id, state = latest[key]
                refused = _refusal(p, run_id, RunState(state))
                if refused is not None or not RunState(state).is_terminal:
                    results.append(refused or StartResult(run_id, created=False))
                    continue
            new = _new_run(p)
            created.append(new)
            latest[key] = (now, new.run_id, RunState.QUEUED.value)  # for a repeat of the id
            results.append(StartResult(new.run_id, created=True))
        if created:
            await self._insert_rows(conn, tasks, [_task_row(new, now) for new in created])
            await self._create_runs(conn, tx, created, now)
        return results

    async def find_run(self, tenant_id: str, workflow_id: str, run_id: str | None = None) -> Run:
        """The run (the latest of the workflow id when ``run_id`` is None).

        Raises WorkflowNotFoundError when there is none.
        """
        stmt = select(runs).where(runs.c.tenant_id == tenant_id, runs.c.workflow_id == workflow_id)
        if run_id is not None:
            stmt = stmt.where(runs.c.run_id == run_id)
        stmt = stmt.order_by(runs.c.requested_at.desc()).limit(1)
        async with self.reader.connect() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            raise WorkflowNotFoundError(workflow_id, run_id)
        return run_from_row(row)

    async def find_runs(
        self, tenant_id: str, wanted: Sequence[tuple[str, str]]
    ) -> list[Run | Exception]:
        """:meth:`find_run` of many ``(workflow_id, run_id)`` at once, one statement for
        all of them; a missing run's entry is a WorkflowNotFoundError."""
        ids = sorted({run_id for _, run_id in wanted})
        async with self.reader.connect() as conn:
            rows = await self._fetch(conn, _TENANT_RUNS, {"tenant": tenant_id, "ids": ids})
            found = {(r.workflow_id, r.run_id): run_from_row(r) for r in rows}
        return [found.get(key) or WorkflowNotFoundError(*key) for key in wanted]

    async def next_run(self, tenant_id: str, run_id: str) -> Run | None:
        """The run that continued ``run_id`` as new, if any."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(runs).where(
                        runs.c.tenant_id == tenant_id, runs.c.continued_from_run_id == run_id
                    )
                )
            ).first()
        return run_from_row(row) if row is not None else None

    async def list_runs(self, tenant_id: str, where: RunFilter) -> list[Run]:
        """Runs of a tenant that match ``where``, newest first (by ``requested_at``, then
        ``run_id``).

        Its ``before`` is a keyset bound ``(requested_at, run_id)``: only runs that sort
        after it (older, or as old with a smaller run id) are read, so a page reads at most
        ``limit`` rows however deep it is.
        """
        stmt = select(runs).where(runs.c.tenant_id == tenant_id)
        if where.before is not None:
            at, run_id = where.before
            stmt = stmt.where(
                or_(
                    runs.c.requested_at < at,
                    and_(runs.c.requested_at == at, runs.c.run_id < run_id),
                )
            )
        if where.state is not None:
            stmt = stmt.where(runs.c.state == RunState(where.state).value)
        if where.workflow_type is not None:
            stmt = stmt.where(runs.c.workflow_type == where.workflow_type)
        if where.task_queue is not None:
            stmt = stmt.where(runs.c.task_queue == where.task_queue)
        query = where.query or Query(None)
        types = await self._types_for(tenant_id, query)
        stmt = stmt.where(compile_where(query.where, types))
        stmt = stmt.order_by(*compile_order(query.order_by, types))
        stmt = stmt.limit(where.limit).offset(where.offset or None)
        async with self.reader.connect() as conn:
            return [run_from_row(r) for r in (await conn.execute(stmt)).all()]

    async def run_input(self, tenant_id: str, run_id: str) -> list[Any]:
        """The JSON arguments a run of the tenant was started with (one column read).

        Raises WorkflowNotFoundError when the tenant has no such run.
        """
        stmt = select(runs.c.workflow_id, runs.c.input).where(
            runs.c.tenant_id == tenant_id, runs.c.run_id == run_id
        )
        async with self.reader.connect() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            raise WorkflowNotFoundError(run_id, run_id)
        return list(row.input or [])

    async def events(self, tenant_id: str, run_id: str, after_seq: int = 0) -> list[Event]:
        """A run's events with seq > ``after_seq``, in order."""
        async with self.reader.connect() as conn:
            return await self._events(conn, run_id, after_seq, tenant_id)

    async def signal(self, p: SignalParams) -> bool:
        """Deliver a signal to an open run of the tenant (of ``workflow_id``, when given;
        the workflow id's open run when ``run_id`` is None); False when there is none."""
        spec = (EventType.SIGNAL_RECEIVED, signal_attributes(p.name, p.args, p.header))
        guard = {"tenant_id": p.tenant_id}
        if p.workflow_id is not None:
            guard["workflow_id"] = p.workflow_id

        if p.run_id is None and p.workflow_id is None:
            raise ValueError("a signal names its run, its workflow id, or both")

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> bool:
            # The run's update is built once (the transaction's BEGIN travels with it).
            now = utcnow()
            if p.run_id is not None:
                return bool(await self._deliver_many(conn, tx, {p.run_id: [spec]}, now, guard))
            found = await self._fetch(conn, OPEN_RUN_BUMP, {**guard, "now": now})
            if not found:
                return False
            info = RunInfo(*found[0][1:])
            self._appended(tx, info, found[0].next_seq, [spec], now)
            await self._enqueue_wfts(conn, tx, [info], now)
            return True

        return bool(await self._run_tx(tx_fn))

    async def request_cancel(self, tenant_id: str, run_id: str) -> bool:
        """Record a cancellation request; the workflow sees CancelledError. False when closed."""
        spec: EventSpec = (EventType.WORKFLOW_CANCEL_REQUESTED, {})

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> bool:
            already = (
                await conn.execute(
                    select(runs.c.cancel_requested).where(
                        runs.c.run_id == run_id, runs.c.tenant_id == tenant_id
                    )
                )
            ).scalar_one_or_none()
            if already is None:
                return False
            if already:
                return True
            return await self._deliver(
                conn,
                tx,
                run_id,
                [spec],
                utcnow(),
                values={"cancel_requested": True},
                extra_where=runs.c.tenant_id == tenant_id,
            )

        return bool(await self._run_tx(tx_fn))

    async def terminate(self, tenant_id: str, run_id: str, reason: str | None) -> bool:
        """End an open run of the tenant at once; False when there is none."""
        now = utcnow()
        reason = reason or "terminated"
        spec = (EventType.WORKFLOW_TERMINATED, {"reason": reason})

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> bool:
            owner = (
                await conn.execute(select(runs.c.tenant_id).where(runs.c.run_id == run_id))
            ).scalar_one_or_none()
            if owner != tenant_id:
                return False
            seqs = await self._close_run(
                conn,
                tx,
                run_id,
                RunState.TERMINATED,
                now,
                [spec],
                failure=Failure(kind="terminated", message=reason),
            )
            return seqs is not None

        return bool(await self._run_tx(tx_fn))

    async def load_history(self, run_id: str, after_seq: int) -> tuple[RunSnapshot, list[Event]]:
        """The run and its events after ``after_seq``, read together."""
        (loaded,) = await self.load_histories([(run_id, after_seq)])
        if isinstance(loaded, Exception):
            raise loaded
        return loaded

    async def load_histories(
        self, wanted: Sequence[tuple[str, int]]
    ) -> list[tuple[RunSnapshot, list[Event]] | Exception]:
        """:meth:`load_history` for many ``(run_id, after_seq)`` at once, two statements
        for all of them; a missing run's entry is a LookupError."""
        async with self.reader.connect() as conn:
            found, history = await self._history_rows(conn, wanted)
        rows = {r.run_id: run_snapshot(r) for r in found}
        by_run: dict[str, list[Event]] = {}
        for e in history:
            by_run.setdefault(e.run_id, []).append(event_from_row(e))
        return [
            (rows[r], [e for e in by_run.get(r, []) if e.seq > s])
            if r in rows
            else LookupError(f"run {r} not found")
            for r, s in wanted
        ]


_TENANT_RUNS = Prepared(
    lambda d: select(runs).where(
        runs.c.tenant_id == bindparam("tenant"), among(d, runs.c.run_id, "ids")
    )
)


_RUNS_OF_IDS = Prepared(
    lambda d: select(
        runs.c.tenant_id, runs.c.workflow_id, runs.c.requested_at, runs.c.run_id, runs.c.state
    ).where(
        # The plain IN lets SQLite use an index (it scans for a row-value IN).
        among(d, runs.c.tenant_id, "tenants"),
        among(d, runs.c.workflow_id, "workflow_ids"),
        rows_among(d, (runs.c.tenant_id, runs.c.workflow_id), "keys"),
    )
)
"""The runs of the workflow ids ``keys`` (``(tenant, workflow id)`` pairs)."""


def _no_key(i: int) -> tuple[str, str]:
    return ("", no_run(i))


def _new_run(p: StartParams) -> NewRun:
    return NewRun(p, task_id=str(uuid.uuid4()), correlation_id=p.correlation_id or uuid.uuid4().hex)


def _task_row(new: NewRun, now: datetime) -> dict[str, Any]:
    p = new.params
    return {
        "task_id": new.task_id,
        "tenant_id": p.tenant_id,
        "workflow_id": p.workflow_id,
        "workflow_type": p.workflow_type,
        "task_queue": p.task_queue,
        "input": p.input,
        "idempotency_key": p.idempotency_key,
        "correlation_id": new.correlation_id,
        "requested_at": now,
    }


def _refused_by_index_alone(p: StartParams) -> bool:
    """True when only an open run of ``p``'s workflow id can refuse its start (a closed
    run never does): the policies Temporal starts with."""
    return (
        p.id_reuse_policy is IdReusePolicy.ALLOW_DUPLICATE
        and p.id_conflict_policy is IdConflictPolicy.FAIL
    )


def _refusal(p: StartParams, run_id: str, state: RunState) -> WorkflowAlreadyStartedError | None:
    """Why a plain start of ``p`` is refused, given the latest run of its id (None: it
    is not; an open run is then reused or must be terminated first)."""
    if not state.is_terminal:
        if p.id_conflict_policy is IdConflictPolicy.FAIL:
            return WorkflowAlreadyStartedError(p.workflow_id, p.workflow_type, run_id=run_id)
        return None
    if p.id_reuse_policy is IdReusePolicy.REJECT_DUPLICATE or (
        p.id_reuse_policy is IdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY and state not in _FAILED_LIKE
    ):
        return WorkflowAlreadyStartedError(p.workflow_id, p.workflow_type, run_id=run_id)
    return None
