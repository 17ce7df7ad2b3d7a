"""The store's shared primitives: transactions with retry, event appends, guarded
run transitions, closing a run, creating a run. Every other store module builds on these.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Row, case, insert, literal, select, tuple_, update
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    InterfaceError,
    OperationalError,
    StatementError,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from turnout.contracts.errors import (
    Failure,
)
from turnout.contracts.events import Event, EventType
from turnout.contracts.records import (
    DEFAULT_TENANT,
    IdConflictPolicy,
    IdReusePolicy,
    PolicyDecision,
    QueueItemKind,
    QueueItemState,
    Run,
)
from turnout.contracts.states import ACTIVE_STATES, TERMINAL_STATES, RunState, sources_of
from turnout.executors.internal.schema import events, queue_items, runs
from turnout.executors.internal.store.notify import Notifier, queue_channel, run_channel

__all__ = [
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

T = TypeVar("T")


_log = logging.getLogger("turnout.store")

EventSpec = tuple[EventType, dict[str, Any]]
_ACTIVE = [s.value for s in ACTIVE_STATES]
_TERMINAL = [s.value for s in TERMINAL_STATES]
_LEASED = [QueueItemState.CLAIMED.value, QueueItemState.RUNNING.value]
_WFT = QueueItemKind.WORKFLOW_TASK.value
_ACT = QueueItemKind.ACTIVITY_TASK.value
_TIMER = QueueItemKind.TIMER.value
_TX_ATTEMPTS = 6
APPROVAL_TIMER = "approval:"
"""``ref`` prefix of the timer item that times an approval out."""
_FAILED_LIKE = {RunState.FAILED, RunState.CANCELED, RunState.TERMINATED, RunState.TIMED_OUT}


def utcnow() -> datetime:
    """The current time, aware, UTC."""
    return datetime.now(UTC)


class StaleTaskError(Exception):
    """A worker's write lost its lease or its run moved on; nothing was changed."""


UNREACHABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
"""Errors that every write of a batch would meet: the database is out of reach (or
asks for the transaction again). Any other error of a batch is one item's own."""


def unstorable(exc: BaseException) -> bool:
    """True for an error of a value the database cannot hold (NUL in text, a date out of
    range, a name too long, a value JSON cannot carry): writing it again fails again."""
    if isinstance(exc, DataError | OverflowError | TypeError | ValueError):
        return True  # the driver's own encoding errors (json, UTF-8) come unwrapped
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


class RefusedValueError(ValueError):
    """The database refused a value of one item (nothing of that item was stored)."""


def refused_value(what: str, exc: BaseException) -> RefusedValueError:
    """A one-line error for ``what`` that the database refused with ``exc``."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    reason = lines[0] if lines else type(cause).__name__
    return RefusedValueError(f"{what} cannot be stored: {reason}")


class UnhandledSignalError(Exception):
    """A workflow task tried to close its run over a signal it had not seen; nothing was
    changed, and the task must be redone."""


@dataclass(frozen=True)
class StartParams:
    """Everything ``start_workflow`` needs."""

    workflow_id: str
    workflow_type: str
    task_queue: str
    input: list[Any]
    tenant_id: str = DEFAULT_TENANT
    correlation_id: str | None = None
    idempotency_key: str | None = None
    id_reuse_policy: IdReusePolicy = IdReusePolicy.ALLOW_DUPLICATE
    id_conflict_policy: IdConflictPolicy = IdConflictPolicy.FAIL
    execution_timeout: float | None = None
    parent: tuple[str, str, str] | None = None
    """(parent workflow id, parent run id, child seq) for child workflows."""


@dataclass(frozen=True)
class NewRun:
    """A run to create: what starts it, its task, and where it comes from."""

    params: StartParams
    task_id: str
    correlation_id: str
    continued_from: str | None = None
    attempt: int = 1
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class StartResult:
    """The run a start resolved to; ``created`` is False when an existing run was reused."""

    run_id: str
    created: bool


@dataclass(frozen=True)
class ClaimedItem:
    """A queue item this worker holds the lease on."""

    id: int
    kind: str
    run_id: str
    workflow_id: str
    tenant_id: str
    task_queue: str
    name: str | None
    ref: str | None
    payload: dict[str, Any]
    attempt: int
    lease_owner: str
    lease_expires_at: datetime
    started_at: datetime
    deadline_at: datetime | None
    heartbeat_details: list[Any] | None
    created_at: datetime
    heartbeat_at: datetime | None = None


def held(
    item: ClaimedItem, *, states: Sequence[str] = (QueueItemState.RUNNING.value,)
) -> list[Any]:
    """SQL conditions: ``item`` is still in ``states`` under this worker's lease and attempt.

    Every write a worker makes about an item it claimed carries these, so a straggler
    whose lease was lost (and whose work was taken over) changes nothing.
    """
    return [
        queue_items.c.id == item.id,
        queue_items.c.state.in_(list(states)),
        queue_items.c.lease_owner == item.lease_owner,
        queue_items.c.attempt == item.attempt,
    ]


@dataclass
class EagerClaim:
    """Work a worker takes in the same transaction that creates it (no claim round trip).

    ``limit`` items at most, of the ``names`` it runs, on its ``task_queue``, leased to
    ``owner``; the store appends what it claimed to ``claimed``.
    """

    owner: str
    task_queue: str
    names: frozenset[str]
    limit: int
    workflow_lease: float = 30.0
    claimed: list[ClaimedItem] = field(default_factory=list)


class Closed(NamedTuple):
    """A run a transaction closed: its final state, result and failure."""

    run_id: str
    target: RunState
    result: Any
    failure: Failure | None


@dataclass(frozen=True)
class _RunInfo:
    """The fixed columns of a run a transaction has already locked or created."""

    run_id: str
    tenant_id: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    correlation_id: str
    parent_run_id: str | None
    parent_ref: str | None


_INFO_COLUMNS = [
    runs.c.run_id,
    runs.c.tenant_id,
    runs.c.workflow_id,
    runs.c.workflow_type,
    runs.c.task_queue,
    runs.c.correlation_id,
    runs.c.parent_run_id,
    runs.c.parent_ref,
]


@dataclass
class _Tx:
    """One transaction's state: what to announce once committed, the events to insert
    before it commits (one statement for all of them), and the runs it has touched."""

    queues: set[str] = field(default_factory=set)
    runs: set[str] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, _RunInfo] = field(default_factory=dict)

    async def flush(self, conn: AsyncConnection) -> None:
        """Insert the events appended so far."""
        if self.events:
            rows, self.events = self.events, []
            await conn.execute(insert(events), rows)


class StoreCore:
    """State and primitives shared by every store operation; see the module docstring."""

    dialect = "sqlite"
    supports_listen_notify = False

    def __init__(
        self,
        url: str,
        engine: AsyncEngine,
        notifier: Notifier,
        *,
        reader: AsyncEngine | None = None,
    ) -> None:
        self.url = url
        self.engine = engine
        """Engine for transactions that write."""
        self.reader = reader or engine
        """Engine for reads (SQLite: deferred transactions that do not take the write lock)."""
        self.notifier = notifier

    # -- hooks ------------------------------------------------------------------------
    def _insert(self, table: Any) -> Any:
        raise NotImplementedError

    async def _announce(self, conn: AsyncConnection, tx: _Tx) -> None:
        """Dialect hook: publish ``tx`` inside the transaction (PostgreSQL NOTIFY)."""

    async def start_listening(self) -> None:
        """Dialect hook: start receiving notifications from other processes."""

    async def _request_approvals(
        self, conn: AsyncConnection, run: Row[Any], requests: list[Any], now: datetime
    ) -> None:
        """Governance hook: record approvals a workflow task asked for."""
        raise NotImplementedError

    async def _claim_eagerly(
        self, conn: AsyncConnection, run_ids: Sequence[str], eager: EagerClaim, now: datetime
    ) -> None:
        """Queue hook: claim the queued workflow tasks of ``run_ids`` for ``eager``'s worker."""
        raise NotImplementedError

    async def _approval_timer_fired(
        self, conn: AsyncConnection, tx: _Tx, item: Row[Any], now: datetime
    ) -> None:
        """Governance hook: an approval's timeout passed."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections."""
        own_pool = self.reader.sync_engine.pool is not self.engine.sync_engine.pool
        await self.engine.dispose()
        if own_pool:
            await self.reader.dispose()

    def _publish_local(self, tx: _Tx) -> None:
        for queue in tx.queues:
            self.notifier.wake(queue_channel(queue))
        for run_id in tx.runs:
            self.notifier.wake(run_channel(run_id))

    def _retryable(self, exc: DBAPIError) -> bool:
        """Dialect hook: True for errors the database asks us to retry (deadlocks...)."""
        return False

    async def _run_tx(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(conn, tx, ...)`` in one transaction, retried when the database reports
        a deadlock or serialization failure (lock orders differ between paths by nature)."""
        for attempt in range(_TX_ATTEMPTS):
            tx = _Tx()
            try:
                async with self.engine.begin() as conn:
                    result = await fn(conn, tx, *args, **kwargs)
                    await tx.flush(conn)
                    await self._announce(conn, tx)
            except DBAPIError as exc:
                if attempt + 1 < _TX_ATTEMPTS and self._retryable(exc):
                    await asyncio.sleep(random.uniform(0.002, 0.02) * 2**attempt)
                    continue
                raise
            self._publish_local(tx)
            return result
        raise AssertionError("unreachable")

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
        tx: _Tx | None = None,
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
            stmt = stmt.where(runs.c.state.in_(_ACTIVE))
        if extra_where is not None:
            stmt = stmt.where(extra_where)
        stmt = stmt.values(next_seq=runs.c.next_seq + n, updated_at=now, **(values or {}))
        row = (await conn.execute(stmt.returning(runs.c.next_seq, *_INFO_COLUMNS))).first()
        if row is None:
            return None
        info = _RunInfo(*row[1:])
        first = row.next_seq - n
        rows = _event_rows(info, first, specs, now)
        if tx is None:
            if rows:
                await conn.execute(insert(events), rows)
        else:
            tx.info[run_id] = info
            tx.events.extend(rows)
        return range(first, first + n)

    async def _enqueue_wft(
        self,
        conn: AsyncConnection,
        tx: _Tx,
        run_id: str,
        now: datetime,
        available_at: datetime | None = None,
    ) -> None:
        info = tx.info.get(run_id) or await self._run_info(conn, run_id)
        await self._enqueue_wfts(conn, tx, [info], now, available_at)

    async def _enqueue_wfts(
        self,
        conn: AsyncConnection,
        tx: _Tx,
        infos: Sequence[_RunInfo],
        now: datetime,
        available_at: datetime | None = None,
    ) -> None:
        """Make sure a workflow task of each run is queued (one pending task per run)."""
        if not infos:
            return
        await conn.execute(
            self._insert(queue_items).on_conflict_do_nothing(),
            [
                {
                    "kind": _WFT,
                    "state": QueueItemState.QUEUED.value,
                    "tenant_id": info.tenant_id,
                    "task_queue": info.task_queue,
                    "run_id": info.run_id,
                    "workflow_id": info.workflow_id,
                    "name": info.workflow_type,
                    "payload": {},
                    "available_at": available_at or now,
                    "created_at": now,
                    "updated_at": now,
                }
                for info in infos
            ],
        )
        tx.queues.update(info.task_queue for info in infos)

    async def _deliver_many(
        self, conn: AsyncConnection, tx: _Tx, specs: dict[str, list[EventSpec]], now: datetime
    ) -> list[_RunInfo]:
        """Append inbound events to many open runs at once and queue their workflow tasks;
        the runs that were still open."""
        infos = await self._append_many(conn, tx, specs, now)
        await self._enqueue_wfts(conn, tx, infos, now)
        return infos

    async def _append_many(
        self,
        conn: AsyncConnection,
        tx: _Tx,
        specs: dict[str, list[EventSpec]],
        now: datetime,
        *,
        values: dict[str, Any] | None = None,
        extra_where: Any = None,
    ) -> list[_RunInfo]:
        """:meth:`_append` to many open runs in one statement (their events wait in
        ``tx``); the runs it appended to."""
        if not specs:
            return []
        counts = {run_id: len(s) for run_id, s in specs.items()}
        stmt = update(runs).where(
            runs.c.run_id.in_(padded(sorted(specs), no_run)), runs.c.state.in_(_ACTIVE)
        )
        if extra_where is not None:
            stmt = stmt.where(extra_where)
        rows = (
            await conn.execute(
                stmt.values(
                    next_seq=runs.c.next_seq + grouped_case(runs.c.run_id, counts, else_=0),
                    updated_at=now,
                    **(values or {}),
                ).returning(runs.c.next_seq, *_INFO_COLUMNS)
            )
        ).all()
        infos = []
        for row in rows:
            info = _RunInfo(*row[1:])
            run_specs = specs[info.run_id]
            tx.info[info.run_id] = info
            tx.events.extend(_event_rows(info, row.next_seq - len(run_specs), run_specs, now))
            infos.append(info)
        return infos

    async def _run_info(self, conn: AsyncConnection, run_id: str) -> _RunInfo:
        row = (await conn.execute(select(*_INFO_COLUMNS).where(runs.c.run_id == run_id))).one()
        return _RunInfo(*row)

    async def _deliver(
        self,
        conn: AsyncConnection,
        tx: _Tx,
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
        tx: _Tx | None = None,
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
        tx: _Tx,
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
        tx: _Tx,
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
        self, conn: AsyncConnection, tx: _Tx, closed: Sequence[Closed], now: datetime
    ) -> None:
        """:meth:`_closed` for many runs, one statement for the items of all of them."""
        if not closed:
            return
        run_ids = [c.run_id for c in closed]
        queued = queue_items.c.state == QueueItemState.QUEUED.value
        await conn.execute(
            update(queue_items)
            .where(
                queue_items.c.run_id.in_(padded(run_ids, no_run)),
                queue_items.c.state.in_([QueueItemState.QUEUED.value, *_LEASED]),
            )
            .values(
                state=case((queued, QueueItemState.CANCELED.value), else_=queue_items.c.state),
                cancel_requested=case((queued, queue_items.c.cancel_requested), else_=True),
                updated_at=now,
            )
        )
        tx.runs.update(run_ids)
        for c in closed:
            await self._tell_parent(conn, tx, c, now)

    async def _tell_parent(self, conn: AsyncConnection, tx: _Tx, c: Closed, now: datetime) -> None:
        """A closed child run's parent hears of it (a continued run has not closed)."""
        run_id, target, result, failure = c
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
            cause = failure or Failure(kind=_child_kind(target), message=target.value)
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
        tx: _Tx,
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
        self, conn: AsyncConnection, tx: _Tx, new: Sequence[NewRun], now: datetime
    ) -> list[str]:
        """Create queued runs with their ``workflow_started`` events and first workflow
        tasks (a few statements for all of them); their run ids."""
        rows, infos = [], []
        for n in new:
            p = n.params
            info = _RunInfo(
                run_id=n.run_id,
                tenant_id=p.tenant_id,
                workflow_id=p.workflow_id,
                workflow_type=p.workflow_type,
                task_queue=p.task_queue,
                correlation_id=n.correlation_id,
                parent_run_id=p.parent[1] if p.parent else None,
                parent_ref=p.parent[2] if p.parent else None,
            )
            timeout = p.execution_timeout
            rows.append(
                {
                    "run_id": info.run_id,
                    "task_id": n.task_id,
                    "tenant_id": p.tenant_id,
                    "workflow_id": p.workflow_id,
                    "workflow_type": p.workflow_type,
                    "task_queue": p.task_queue,
                    "correlation_id": n.correlation_id,
                    "state": RunState.QUEUED.value,
                    "attempt": n.attempt,
                    "input": p.input,
                    "requested_at": now,
                    "updated_at": now,
                    "execution_deadline": now + timedelta(seconds=timeout) if timeout else None,
                    "parent_workflow_id": p.parent[0] if p.parent else None,
                    "parent_run_id": info.parent_run_id,
                    "parent_ref": info.parent_ref,
                    "continued_from_run_id": n.continued_from,
                    "options": {"execution_timeout": timeout},
                    "next_seq": 2,
                }
            )
            started = {
                "workflow_type": p.workflow_type,
                "task_queue": p.task_queue,
                "input": p.input,
                "attempt": n.attempt,
                "continued_from_run_id": n.continued_from,
            }
            if p.parent:
                started["parent_workflow_id"], started["parent_run_id"], _ = p.parent
            tx.info[info.run_id] = info
            tx.events.extend(_event_rows(info, 1, [(EventType.WORKFLOW_STARTED, started)], now))
            infos.append(info)
        await conn.execute(insert(runs), rows)
        await self._enqueue_wfts(conn, tx, infos, now)
        return [info.run_id for info in infos]

    async def _events(
        self, conn: AsyncConnection, run_id: str, after_seq: int = 0, tenant_id: str | None = None
    ) -> list[Event]:
        stmt = select(events).where(events.c.run_id == run_id, events.c.seq > after_seq)
        if tenant_id is not None:
            stmt = stmt.where(events.c.tenant_id == tenant_id)
        rows = (await conn.execute(stmt.order_by(events.c.seq))).all()
        return [event_from_row(r) for r in rows]

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
                queue_items.c.id.in_(padded([i.id for i in items], no_item)),
                tuple_(queue_items.c.id, queue_items.c.lease_owner, queue_items.c.attempt).in_(
                    padded(
                        [(i.id, i.lease_owner, i.attempt) for i in items],
                        lambda i: (no_item(i), "", 0),
                    )
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


def padded(values: Sequence[T], filler: Callable[[int], T]) -> list[T]:
    """``values`` made up to the next power of two with ``filler(i)`` values that match
    nothing. A batched statement then comes in a few shapes, whose compiled forms
    SQLAlchemy and the driver cache and reuse, instead of one shape per batch size, each
    compiled anew and each kept in those caches."""
    size = 1 << (len(values) - 1).bit_length() if values else 0
    return [*values, *(filler(i) for i in range(len(values), size))]


def grouped_case(
    key: Any,
    values: Mapping[Any, Any],
    else_: Any,
    *,
    type_: Any = None,
    filler: Callable[[int], Any] = lambda i: f"-{i}",
) -> Any:
    """SQL ``CASE``: the value ``values`` holds for the row's ``key`` column, else
    ``else_``. One ``WHEN key IN (...)`` per distinct value, its keys padded (see
    :func:`padded`): the statement grows with the distinct values, not with the rows
    (a batch's runs mostly share them)."""
    groups: dict[Any, tuple[Any, list[Any]]] = {}
    for k, value in values.items():
        # 1 and True are equal dict keys: tell values apart by type too.
        group = (
            json.dumps(value, sort_keys=True, default=str)
            if isinstance(value, dict | list)
            else (type(value), value)
        )
        groups.setdefault(group, (value, []))[1].append(k)
    return case(
        *(
            (key.in_(padded(keys, filler)), value if type_ is None else literal(value, type_))
            for value, keys in groups.values()
        ),
        else_=else_,
    )


def no_run(i: int) -> str:
    """A run id that matches no run (run ids are UUIDs), for :func:`padded`."""
    return f"-{i}"


def no_item(i: int) -> int:
    """A queue item id that matches no item (ids are positive), for :func:`padded`."""
    return -1 - i


def activity_lease(payload: dict[str, Any], deadline: datetime | None, now: datetime) -> datetime:
    """When an activity attempt started ``now`` times out: its start-to-close or heartbeat
    timeout, or its schedule-to-close deadline, whichever comes first."""
    bounds = [
        now + _lease_span(s)
        for s in (payload.get("start_to_close_timeout"), payload.get("heartbeat_timeout"))
        if s
    ]
    if deadline is not None:
        bounds.append(deadline)
    return min(bounds) if bounds else now + _LONGEST_LEASE


_LONGEST_LEASE = timedelta(days=3650)
"""The lease of an attempt with no timeout, and the longest any attempt takes: a stored
timeout beyond what a date can hold (written before values were checked) never makes
the claims of its whole queue fail."""


def _lease_span(seconds: Any) -> timedelta:
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return _LONGEST_LEASE
    if not value > 0 or value >= _LONGEST_LEASE.total_seconds():  # NaN too
        return _LONGEST_LEASE
    return timedelta(seconds=value)


def _event_rows(
    info: _RunInfo, first: int, specs: Sequence[EventSpec], now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "run_id": info.run_id,
            "seq": first + i,
            "tenant_id": info.tenant_id,
            "workflow_id": info.workflow_id,
            "type": etype.value,
            "at": now,
            "correlation_id": info.correlation_id,
            "attributes": attrs,
        }
        for i, (etype, attrs) in enumerate(specs)
    ]


def event_from_row(r: Row[Any]) -> Event:
    """The contract record of a ``turnout_events`` row."""
    return Event(
        run_id=r.run_id,
        workflow_id=r.workflow_id,
        seq=r.seq,
        type=EventType(r.type),
        at=r.at,
        correlation_id=r.correlation_id,
        tenant_id=r.tenant_id,
        attributes=r.attributes,
    )


def _child_kind(state: RunState) -> str:
    return {
        RunState.CANCELED: "canceled",
        RunState.TERMINATED: "terminated",
        RunState.TIMED_OUT: "timeout",
    }.get(state, "application")


def _retry_state(failure: Failure, dead: bool) -> str:
    if failure.kind == "timeout":
        return "timeout"
    return "maximum_attempts_reached" if dead else "non_retryable_failure"


def _activity_attrs(item: ClaimedItem, **extra: Any) -> dict[str, Any]:
    return {
        "activity_seq": int(item.ref or 0),
        "activity_id": item.payload.get("activity_id"),
        "activity_type": item.name,
        "attempt": item.attempt,
        **extra,
    }


def _item(
    run: Row[Any],
    kind: str,
    task_queue: str,
    name: str | None,
    ref: str,
    now: datetime,
    *,
    payload: dict[str, Any],
    available_at: datetime | None = None,
    deadline_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "state": QueueItemState.QUEUED.value,
        "tenant_id": run.tenant_id,
        "task_queue": task_queue,
        "run_id": run.run_id,
        "workflow_id": run.workflow_id,
        "name": name,
        "ref": ref,
        "payload": payload,
        "priority": 0,
        "attempt": 1,
        "available_at": available_at or now,
        "deadline_at": deadline_at,
        "lease_owner": None,
        "lease_expires_at": None,
        "started_at": None,
        "idempotency_key": None,
        "created_at": now,
        "updated_at": now,
    }


def decision_row(d: PolicyDecision) -> dict[str, Any]:
    """The ``turnout_policy_decisions`` row of a decision."""
    return {
        "decision_id": d.decision_id,
        "run_id": d.run_id,
        "workflow_id": d.workflow_id,
        "tenant_id": d.tenant_id,
        "name": d.name,
        "outcome": d.outcome.value,
        "decided_by": d.decided_by,
        "reason": d.reason,
        "decided_at": d.decided_at,
        "attributes": d.attributes,
    }


def _claimed(row: Row[Any]) -> ClaimedItem:
    return ClaimedItem(
        id=row.id,
        kind=row.kind,
        run_id=row.run_id,
        workflow_id=row.workflow_id,
        tenant_id=row.tenant_id,
        task_queue=row.task_queue,
        name=row.name,
        ref=row.ref,
        payload=dict(row.payload or {}),
        attempt=row.attempt,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        started_at=row.started_at,
        deadline_at=row.deadline_at,
        heartbeat_details=row.heartbeat_details,
        created_at=row.created_at,
        heartbeat_at=row.heartbeat_at,
    )


def _run_from_row(row: Row[Any]) -> Run:
    failure = Failure.model_validate(row.failure) if row.failure else None
    return Run(
        workflow_id=row.workflow_id,
        run_id=row.run_id,
        workflow_type=row.workflow_type,
        task_queue=row.task_queue,
        tenant_id=row.tenant_id,
        correlation_id=row.correlation_id,
        state=RunState(row.state),
        attempt=row.attempt,
        requested_at=row.requested_at,
        started_at=row.started_at,
        closed_at=row.closed_at,
        result=row.result if row.state == RunState.COMPLETED.value else None,
        failure=failure,
        parent_workflow_id=row.parent_workflow_id,
        parent_run_id=row.parent_run_id,
        continued_from_run_id=row.continued_from_run_id,
    )
