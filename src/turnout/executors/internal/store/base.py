"""The internal store: domain-level operations on the queue, runs and events.

One implementation on SQLAlchemy Core serves PostgreSQL and SQLite; the
dialect subclasses override small hooks only (engine set-up, locking clause,
notifications). Every state change is a guarded ``UPDATE ... WHERE state IN
(...)``: a write that lost a race changes zero rows and is reported, never
applied over the winner.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, exists, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from turnout.contracts.errors import (
    Failure,
    WorkflowAlreadyStartedError,
    WorkflowNotFoundError,
)
from turnout.contracts.events import Event, EventType
from turnout.contracts.records import (
    DEFAULT_TENANT,
    IdConflictPolicy,
    IdReusePolicy,
    QueueItemKind,
    QueueItemState,
    Run,
)
from turnout.contracts.states import ACTIVE_STATES, TERMINAL_STATES, RunState, sources_of
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.schema import events, queue_items, runs, tasks
from turnout.executors.internal.store.notify import Notifier, queue_channel, run_channel

__all__ = [
    "ClaimedItem",
    "StaleTaskError",
    "StartParams",
    "StartResult",
    "Store",
    "utcnow",
]

_log = logging.getLogger("turnout.store")

EventSpec = tuple[EventType, dict[str, Any]]
_ACTIVE = [s.value for s in ACTIVE_STATES]
_TERMINAL = [s.value for s in TERMINAL_STATES]
_LEASED = [QueueItemState.CLAIMED.value, QueueItemState.RUNNING.value]
_WFT = QueueItemKind.WORKFLOW_TASK.value
_ACT = QueueItemKind.ACTIVITY_TASK.value
_TIMER = QueueItemKind.TIMER.value
_TX_ATTEMPTS = 6
_FAILED_LIKE = {RunState.FAILED, RunState.CANCELED, RunState.TERMINATED, RunState.TIMED_OUT}


def utcnow() -> datetime:
    """The current time, aware, UTC."""
    return datetime.now(UTC)


class StaleTaskError(Exception):
    """A worker's write lost its lease or its run moved on; nothing was changed."""


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


@dataclass
class _Tx:
    """What a transaction must announce once committed."""

    queues: set[str] = field(default_factory=set)
    runs: set[str] = field(default_factory=set)


class Store:
    """Domain-level operations; see the module docstring."""

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

    async def close(self) -> None:
        """Release connections."""
        await self.engine.dispose()
        if self.reader is not self.engine:
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
    ) -> range | None:
        """Append events to a run (allocating seqs under the run's row lock).

        With ``open_only`` the append is refused (None) when the run is closed: a
        straggler never writes after the end. ``values`` updates the run too.
        """
        n = len(specs)
        stmt = update(runs).where(runs.c.run_id == run_id)
        if open_only:
            stmt = stmt.where(runs.c.state.in_(_ACTIVE))
        if extra_where is not None:
            stmt = stmt.where(extra_where)
        stmt = stmt.values(next_seq=runs.c.next_seq + n, updated_at=now, **(values or {}))
        row = (
            await conn.execute(
                stmt.returning(
                    runs.c.next_seq, runs.c.workflow_id, runs.c.tenant_id, runs.c.correlation_id
                )
            )
        ).first()
        if row is None:
            return None
        first = row.next_seq - n
        if n:
            await conn.execute(
                insert(events),
                [
                    {
                        "run_id": run_id,
                        "seq": first + i,
                        "tenant_id": row.tenant_id,
                        "workflow_id": row.workflow_id,
                        "type": etype.value,
                        "at": now,
                        "correlation_id": row.correlation_id,
                        "attributes": attrs,
                    }
                    for i, (etype, attrs) in enumerate(specs)
                ],
            )
        return range(first, first + n)

    async def _enqueue_wft(
        self,
        conn: AsyncConnection,
        tx: _Tx,
        run_id: str,
        now: datetime,
        available_at: datetime | None = None,
    ) -> None:
        row = (
            await conn.execute(
                select(
                    runs.c.tenant_id, runs.c.task_queue, runs.c.workflow_id, runs.c.workflow_type
                ).where(runs.c.run_id == run_id)
            )
        ).one()
        await conn.execute(
            self._insert(queue_items)
            .values(
                kind=_WFT,
                state=QueueItemState.QUEUED.value,
                tenant_id=row.tenant_id,
                task_queue=row.task_queue,
                run_id=run_id,
                workflow_id=row.workflow_id,
                name=row.workflow_type,
                payload={},
                available_at=available_at or now,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        tx.queues.add(row.task_queue)

    async def _deliver(
        self,
        conn: AsyncConnection,
        tx: _Tx,
        run_id: str,
        specs: Sequence[EventSpec],
        now: datetime,
        values: dict[str, Any] | None = None,
    ) -> bool:
        """Append inbound events to an open run and make sure a workflow task will see them."""
        seqs = await self._append(conn, run_id, specs, now=now, values=values)
        if seqs is None:
            return False
        await self._enqueue_wft(conn, tx, run_id, now)
        tx.runs.add(run_id)
        return True

    async def _transition(
        self,
        conn: AsyncConnection,
        run_id: str,
        target: RunState,
        now: datetime,
        specs: Sequence[EventSpec] = (),
        values: dict[str, Any] | None = None,
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
        seqs = await self._transition(conn, run_id, target, now, specs, values)
        if seqs is None:
            return None
        # Nothing of a closed run stays runnable: queued items end, running ones hear a cancel.
        await conn.execute(
            update(queue_items)
            .where(
                queue_items.c.run_id == run_id, queue_items.c.state == QueueItemState.QUEUED.value
            )
            .values(state=QueueItemState.CANCELED.value, updated_at=now)
        )
        await conn.execute(
            update(queue_items)
            .where(queue_items.c.run_id == run_id, queue_items.c.state.in_(_LEASED))
            .values(cancel_requested=True, updated_at=now)
        )
        tx.runs.add(run_id)
        await self._notify_parent(conn, tx, run_id, target, now, result, failure)
        return seqs

    async def _notify_parent(
        self,
        conn: AsyncConnection,
        tx: _Tx,
        run_id: str,
        target: RunState,
        now: datetime,
        result: Any,
        failure: Failure | None,
    ) -> None:
        row = (
            await conn.execute(
                select(
                    runs.c.parent_run_id,
                    runs.c.parent_ref,
                    runs.c.workflow_id,
                    runs.c.workflow_type,
                ).where(runs.c.run_id == run_id)
            )
        ).one()
        if row.parent_run_id is None or target is RunState.CONTINUED_AS_NEW:
            return
        attrs: dict[str, Any] = {
            "child_seq": int(row.parent_ref),
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
        run_id = str(uuid.uuid4())
        deadline = now + timedelta(seconds=p.execution_timeout) if p.execution_timeout else None
        started = {
            "workflow_type": p.workflow_type,
            "task_queue": p.task_queue,
            "input": p.input,
            "attempt": attempt,
            "continued_from_run_id": continued_from,
        }
        if p.parent:
            started["parent_workflow_id"], started["parent_run_id"], _ = p.parent
        await conn.execute(
            insert(runs).values(
                run_id=run_id,
                task_id=task_id,
                tenant_id=p.tenant_id,
                workflow_id=p.workflow_id,
                workflow_type=p.workflow_type,
                task_queue=p.task_queue,
                correlation_id=correlation_id,
                state=RunState.QUEUED.value,
                attempt=attempt,
                input=p.input,
                requested_at=now,
                updated_at=now,
                execution_deadline=deadline,
                parent_workflow_id=p.parent[0] if p.parent else None,
                parent_run_id=p.parent[1] if p.parent else None,
                parent_ref=p.parent[2] if p.parent else None,
                continued_from_run_id=continued_from,
                options={"execution_timeout": p.execution_timeout},
            )
        )
        await self._append(conn, run_id, [(EventType.WORKFLOW_STARTED, started)], now=now)
        await self._enqueue_wft(conn, tx, run_id, now)
        tx.runs.add(run_id)
        return run_id

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
        raise AssertionError("unreachable")

    async def _start_tx(self, conn: AsyncConnection, tx: _Tx, p: StartParams) -> StartResult:
        now = utcnow()
        if p.idempotency_key is not None:
            existing_task = (
                await conn.execute(
                    select(tasks.c.task_id).where(
                        tasks.c.tenant_id == p.tenant_id,
                        tasks.c.idempotency_key == p.idempotency_key,
                    )
                )
            ).scalar_one_or_none()
            if existing_task is not None:
                run_id = (
                    await conn.execute(
                        select(runs.c.run_id)
                        .where(runs.c.task_id == existing_task)
                        .order_by(runs.c.requested_at.desc(), runs.c.run_id)
                        .limit(1)
                    )
                ).scalar_one()
                return StartResult(run_id, created=False)
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
            if not state.is_terminal:
                if p.id_conflict_policy is IdConflictPolicy.USE_EXISTING:
                    return StartResult(latest.run_id, created=False)
                if p.id_conflict_policy is IdConflictPolicy.FAIL:
                    raise WorkflowAlreadyStartedError(
                        p.workflow_id, p.workflow_type, run_id=latest.run_id
                    )
                await self._close_run(
                    conn,
                    tx,
                    latest.run_id,
                    RunState.TERMINATED,
                    now,
                    [(EventType.WORKFLOW_TERMINATED, {"reason": "terminated by a new start"})],
                    failure=Failure(kind="terminated", message="terminated by a new start"),
                )
            elif p.id_reuse_policy is IdReusePolicy.REJECT_DUPLICATE or (
                p.id_reuse_policy is IdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
                and state not in _FAILED_LIKE
            ):
                raise WorkflowAlreadyStartedError(
                    p.workflow_id, p.workflow_type, run_id=latest.run_id
                )
        task_id = str(uuid.uuid4())
        correlation_id = p.correlation_id or uuid.uuid4().hex
        await conn.execute(
            insert(tasks).values(
                task_id=task_id,
                tenant_id=p.tenant_id,
                workflow_id=p.workflow_id,
                workflow_type=p.workflow_type,
                task_queue=p.task_queue,
                input=p.input,
                idempotency_key=p.idempotency_key,
                correlation_id=correlation_id,
                requested_at=now,
            )
        )
        run_id = await self._create_run(
            conn, tx, task_id=task_id, p=p, correlation_id=correlation_id, now=now
        )
        return StartResult(run_id, created=True)

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
        return _run_from_row(row)

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
        return _run_from_row(row) if row is not None else None

    async def get_run_input(self, run_id: str) -> tuple[Row[Any], list[Any]]:
        """The run row and its input (for workflow tasks and queries)."""
        async with self.reader.connect() as conn:
            row = (await conn.execute(select(runs).where(runs.c.run_id == run_id))).one()
        return row, list(row.input)

    async def list_runs(
        self,
        tenant_id: str,
        *,
        state: RunState | None = None,
        workflow_type: str | None = None,
        task_queue: str | None = None,
        limit: int = 100,
    ) -> list[Run]:
        """Runs of a tenant, newest first."""
        stmt = select(runs).where(runs.c.tenant_id == tenant_id)
        if state is not None:
            stmt = stmt.where(runs.c.state == RunState(state).value)
        if workflow_type is not None:
            stmt = stmt.where(runs.c.workflow_type == workflow_type)
        if task_queue is not None:
            stmt = stmt.where(runs.c.task_queue == task_queue)
        stmt = stmt.order_by(runs.c.requested_at.desc()).limit(limit)
        async with self.reader.connect() as conn:
            return [_run_from_row(r) for r in (await conn.execute(stmt)).all()]

    async def events(self, tenant_id: str, run_id: str, after_seq: int = 0) -> list[Event]:
        """A run's events with seq > ``after_seq``, in order."""
        async with self.reader.connect() as conn:
            return await self._events(conn, run_id, after_seq, tenant_id)

    async def _events(
        self, conn: AsyncConnection, run_id: str, after_seq: int = 0, tenant_id: str | None = None
    ) -> list[Event]:
        stmt = select(events).where(events.c.run_id == run_id, events.c.seq > after_seq)
        if tenant_id is not None:
            stmt = stmt.where(events.c.tenant_id == tenant_id)
        rows = (await conn.execute(stmt.order_by(events.c.seq))).all()
        return [
            Event(
                run_id=r.run_id,
                workflow_id=r.workflow_id,
                seq=r.seq,
                type=EventType(r.type),
                at=r.at,
                correlation_id=r.correlation_id,
                tenant_id=r.tenant_id,
                attributes=r.attributes,
            )
            for r in rows
        ]

    async def signal(self, run_id: str, name: str, args: list[Any]) -> bool:
        """Deliver a signal to an open run; False when the run is closed."""
        spec = (EventType.SIGNAL_RECEIVED, {"name": name, "args": args})
        return bool(
            await self._run_tx(lambda c, tx: self._deliver(c, tx, run_id, [spec], utcnow()))
        )

    async def request_cancel(self, run_id: str) -> bool:
        """Record a cancellation request; the workflow sees CancelledError. False when closed."""
        spec: EventSpec = (EventType.WORKFLOW_CANCEL_REQUESTED, {})

        async def tx_fn(conn: AsyncConnection, tx: _Tx) -> bool:
            already = (
                await conn.execute(select(runs.c.cancel_requested).where(runs.c.run_id == run_id))
            ).scalar_one_or_none()
            if already:
                return True
            return await self._deliver(
                conn, tx, run_id, [spec], utcnow(), values={"cancel_requested": True}
            )

        return bool(await self._run_tx(tx_fn))

    async def terminate(self, run_id: str, reason: str | None) -> bool:
        """End an open run at once; False when it was already closed."""
        now = utcnow()
        reason = reason or "terminated"
        spec = (EventType.WORKFLOW_TERMINATED, {"reason": reason})

        async def tx_fn(conn: AsyncConnection, tx: _Tx) -> bool:
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

    # -- worker operations ------------------------------------------------------------------
    def _claim_subquery(self, task_queue: str, kind: str, limit: int, now: datetime) -> Any:
        q = queue_items.alias("q")
        stmt = select(q.c.id).where(
            q.c.state == QueueItemState.QUEUED.value,
            q.c.task_queue == task_queue,
            q.c.kind == kind,
            q.c.available_at <= now,
        )
        if kind == _WFT:
            busy = queue_items.alias("busy")
            stmt = stmt.where(
                ~exists().where(
                    busy.c.run_id == q.c.run_id,
                    busy.c.kind == _WFT,
                    busy.c.state.in_(_LEASED),
                )
            )
        stmt = stmt.order_by(q.c.priority.desc(), q.c.available_at, q.c.id).limit(limit)
        return stmt.with_for_update(skip_locked=True)

    async def claim(
        self,
        task_queue: str,
        owner: str,
        *,
        workflow_tasks: int,
        activities: int,
        workflow_lease: float,
    ) -> list[ClaimedItem]:
        """Claim up to the given numbers of ready items (atomically, never twice)."""
        if workflow_tasks <= 0 and activities <= 0:
            return []
        result: list[ClaimedItem] = await self._run_tx(
            self._claim_tx, task_queue, owner, workflow_tasks, activities, workflow_lease
        )
        return result

    async def _claim_tx(
        self,
        conn: AsyncConnection,
        tx: _Tx,
        task_queue: str,
        owner: str,
        wft_limit: int,
        act_limit: int,
        workflow_lease: float,
    ) -> list[ClaimedItem]:
        now = utcnow()
        claimed: list[ClaimedItem] = []
        for kind, limit in ((_WFT, wft_limit), (_ACT, act_limit)):
            if limit <= 0:
                continue
            lease = now + timedelta(seconds=workflow_lease)
            rows = (
                await conn.execute(
                    update(queue_items)
                    .where(
                        queue_items.c.id.in_(
                            self._claim_subquery(task_queue, kind, limit, now).scalar_subquery()
                        )
                    )
                    .values(
                        state=QueueItemState.RUNNING.value,
                        lease_owner=owner,
                        lease_expires_at=lease,
                        started_at=now,
                        updated_at=now,
                    )
                    .returning(*queue_items.c)
                )
            ).all()
            for row in rows:
                item: ClaimedItem | None = _claimed(row)
                assert item is not None
                if kind == _ACT:
                    item = await self._start_activity(conn, item, now)
                    if item is None:
                        continue
                else:
                    await self._transition(
                        conn,
                        item.run_id,
                        RunState.CLAIMED,
                        now,
                        values={"started_at": func.coalesce(runs.c.started_at, now)},
                    )
                claimed.append(item)
        return claimed

    async def _start_activity(
        self, conn: AsyncConnection, item: ClaimedItem, now: datetime
    ) -> ClaimedItem | None:
        p = item.payload
        bounds = [
            now + timedelta(seconds=s)
            for s in (p.get("start_to_close_timeout"), p.get("heartbeat_timeout"))
            if s
        ]
        if item.deadline_at is not None:
            bounds.append(item.deadline_at)
        lease = min(bounds) if bounds else now + timedelta(days=3650)
        await conn.execute(
            update(queue_items).where(queue_items.c.id == item.id).values(lease_expires_at=lease)
        )
        started = await self._append(
            conn,
            item.run_id,
            [
                (
                    EventType.ACTIVITY_STARTED,
                    {
                        "activity_seq": int(item.ref or 0),
                        "activity_id": p.get("activity_id"),
                        "activity_type": item.name,
                        "attempt": item.attempt,
                        "worker": item.lease_owner,
                    },
                )
            ],
            now=now,
        )
        if started is None:  # the run closed meanwhile: nothing to do
            await conn.execute(
                update(queue_items)
                .where(queue_items.c.id == item.id)
                .values(
                    state=QueueItemState.CANCELED.value, lease_owner=None, lease_expires_at=None
                )
            )
            return None
        return ClaimedItem(**{**item.__dict__, "lease_expires_at": lease})

    async def fire_timers(self, task_queue: str, limit: int = 100) -> int:
        """Fire due timers: append ``timer_fired`` and wake the workflow. Returns how many."""
        fired: int = await self._run_tx(self._fire_timers_tx, task_queue, limit)
        return fired

    async def _fire_timers_tx(
        self, conn: AsyncConnection, tx: _Tx, task_queue: str, limit: int
    ) -> int:
        now = utcnow()
        rows = (
            await conn.execute(
                update(queue_items)
                .where(
                    queue_items.c.id.in_(
                        self._claim_subquery(task_queue, _TIMER, limit, now).scalar_subquery()
                    )
                )
                .values(state=QueueItemState.COMPLETED.value, updated_at=now)
                .returning(queue_items.c.run_id, queue_items.c.ref)
            )
        ).all()
        for row in rows:
            await self._deliver(
                conn, tx, row.run_id, [(EventType.TIMER_FIRED, {"timer_seq": int(row.ref)})], now
            )
        return len(rows)

    async def next_due(self, task_queue: str) -> datetime | None:
        """When the earliest queued item of ``task_queue`` becomes ready (None: nothing queued)."""
        async with self.reader.connect() as conn:
            value: datetime | None = (
                await conn.execute(
                    select(func.min(queue_items.c.available_at)).where(
                        queue_items.c.state == QueueItemState.QUEUED.value,
                        queue_items.c.task_queue == task_queue,
                    )
                )
            ).scalar_one_or_none()
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    async def load_history(self, run_id: str, after_seq: int) -> tuple[Row[Any], list[Event]]:
        """The run row and its events after ``after_seq``, read together."""
        async with self.reader.connect() as conn:
            row = (await conn.execute(select(runs).where(runs.c.run_id == run_id))).one()
            history = await self._events(conn, run_id, after_seq)
        return row, history

    async def extend_leases(self, owner: str, item_ids: Sequence[int], until: datetime) -> None:
        """Keep the leases of workflow tasks this worker is processing."""
        if not item_ids:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                update(queue_items)
                .where(
                    queue_items.c.id.in_(list(item_ids)),
                    queue_items.c.lease_owner == owner,
                    queue_items.c.state.in_(_LEASED),
                    queue_items.c.kind == _WFT,
                )
                .values(lease_expires_at=until)
            )

    async def commit_workflow_task(
        self,
        item: ClaimedItem,
        *,
        expected_task_count: int,
        processed_through: int,
        time: datetime,
        commands: Sequence[cmd.Command],
    ) -> range:
        """Commit one workflow task: its commands, events, queue items and state change.

        Raises StaleTaskError (changing nothing) when the lease was lost or another
        task of the run committed first.
        """
        seqs: range = await self._run_tx(
            self._commit_tx, item, expected_task_count, processed_through, time, commands
        )
        return seqs

    async def _commit_tx(
        self,
        conn: AsyncConnection,
        tx: _Tx,
        item: ClaimedItem,
        expected: int,
        processed_through: int,
        time: datetime,
        commands: Sequence[cmd.Command],
    ) -> range:
        now = utcnow()
        done = (
            await conn.execute(
                update(queue_items)
                .where(
                    queue_items.c.id == item.id,
                    queue_items.c.state == QueueItemState.RUNNING.value,
                    queue_items.c.lease_owner == item.lease_owner,
                )
                .values(
                    state=QueueItemState.COMPLETED.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
                .returning(queue_items.c.id)
            )
        ).first()
        if done is None:
            raise StaleTaskError(
                f"workflow task {item.id} is no longer leased to {item.lease_owner}"
            )
        run = (await conn.execute(select(runs).where(runs.c.run_id == item.run_id))).one()
        specs: list[EventSpec] = [
            (
                EventType.WORKFLOW_TASK_COMPLETED,
                {
                    "processed_through": processed_through,
                    "time": time.isoformat(),
                    "worker": item.lease_owner,
                },
            )
        ]
        closing: cmd.Command | None = None
        for command in commands:
            if isinstance(command, cmd.RequestCancelChild):
                continue
            if isinstance(
                command,
                cmd.CompleteWorkflow | cmd.FailWorkflow | cmd.CancelWorkflow | cmd.ContinueAsNew,
            ):
                closing = command
                continue
            specs.append((command.event_type, command.attributes()))
        values: dict[str, Any] = {"workflow_task_count": expected + 1}
        guard = runs.c.workflow_task_count == expected
        if run.state == RunState.CLAIMED.value:
            specs.append(
                (EventType.STATE_CHANGED, {"from": run.state, "to": RunState.RUNNING.value})
            )
            values["state"] = RunState.RUNNING.value
            guard = and_(guard, runs.c.state == RunState.CLAIMED.value)
        seqs = await self._append(
            conn, item.run_id, specs, now=now, values=values, extra_where=guard
        )
        if seqs is None:
            raise StaleTaskError(f"run {item.run_id} moved on while workflow task {item.id} ran")
        await self._apply_commands(conn, tx, run, commands, now)
        if closing is not None:
            await self._apply_closing(conn, tx, run, closing, now)
        return seqs

    async def _apply_commands(
        self,
        conn: AsyncConnection,
        tx: _Tx,
        run: Row[Any],
        commands: Sequence[cmd.Command],
        now: datetime,
    ) -> None:
        new_items: list[dict[str, Any]] = []
        for c in commands:
            if isinstance(c, cmd.ScheduleActivity):
                deadline = (
                    now + timedelta(seconds=c.schedule_to_close_timeout)
                    if c.schedule_to_close_timeout
                    else None
                )
                new_items.append(
                    _item(
                        run,
                        _ACT,
                        c.task_queue,
                        c.activity_type,
                        str(c.seq),
                        now,
                        payload={
                            **c.attributes(),
                            "workflow_type": run.workflow_type,
                            "scheduled_at": now.isoformat(),
                        },
                        deadline_at=deadline,
                    )
                )
                tx.queues.add(c.task_queue)
            elif isinstance(c, cmd.StartTimer):
                new_items.append(
                    _item(
                        run,
                        _TIMER,
                        run.task_queue,
                        None,
                        str(c.seq),
                        now,
                        payload={"duration": c.duration},
                        available_at=now + timedelta(seconds=c.duration),
                    )
                )
            elif isinstance(c, cmd.CancelTimer):
                await conn.execute(
                    update(queue_items)
                    .where(
                        queue_items.c.run_id == run.run_id,
                        queue_items.c.kind == _TIMER,
                        queue_items.c.ref == str(c.seq),
                        queue_items.c.state == QueueItemState.QUEUED.value,
                    )
                    .values(state=QueueItemState.CANCELED.value, updated_at=now)
                )
            elif isinstance(c, cmd.RequestCancelActivity):
                await self._cancel_activity(conn, tx, run, c.seq, now)
            elif isinstance(c, cmd.StartChild):
                await self._start_child(conn, tx, run, c, now)
            elif isinstance(c, cmd.RequestCancelChild):
                child = (
                    await conn.execute(
                        select(runs.c.run_id).where(
                            runs.c.parent_run_id == run.run_id,
                            runs.c.parent_ref == str(c.seq),
                            runs.c.state.in_(_ACTIVE),
                        )
                    )
                ).scalar_one_or_none()
                if child is not None:
                    await self._deliver(
                        conn,
                        tx,
                        child,
                        [(EventType.WORKFLOW_CANCEL_REQUESTED, {"by_parent": run.run_id})],
                        now,
                        values={"cancel_requested": True},
                    )
        if new_items:
            await conn.execute(insert(queue_items), new_items)

    async def _cancel_activity(
        self, conn: AsyncConnection, tx: _Tx, run: Row[Any], seq: int, now: datetime
    ) -> None:
        ended = (
            await conn.execute(
                update(queue_items)
                .where(
                    queue_items.c.run_id == run.run_id,
                    queue_items.c.kind == _ACT,
                    queue_items.c.ref == str(seq),
                    queue_items.c.state == QueueItemState.QUEUED.value,
                )
                .values(state=QueueItemState.CANCELED.value, updated_at=now)
                .returning(queue_items.c.id)
            )
        ).first()
        if ended is None:
            await conn.execute(
                update(queue_items)
                .where(
                    queue_items.c.run_id == run.run_id,
                    queue_items.c.kind == _ACT,
                    queue_items.c.ref == str(seq),
                    queue_items.c.state.in_(_LEASED),
                )
                .values(cancel_requested=True, updated_at=now)
            )

    async def _start_child(
        self, conn: AsyncConnection, tx: _Tx, run: Row[Any], c: cmd.StartChild, now: datetime
    ) -> None:
        p = StartParams(
            workflow_id=c.workflow_id,
            workflow_type=c.workflow_type,
            task_queue=c.task_queue,
            input=c.args,
            tenant_id=run.tenant_id,
            correlation_id=run.correlation_id,
            execution_timeout=c.execution_timeout,
            parent=(run.workflow_id, run.run_id, str(c.seq)),
        )
        taken = (
            await conn.execute(
                select(runs.c.run_id).where(
                    runs.c.tenant_id == run.tenant_id,
                    runs.c.workflow_id == c.workflow_id,
                    runs.c.state.in_(_ACTIVE),
                )
            )
        ).first()
        if taken is not None:
            failure = Failure(
                kind="application",
                message=f"workflow {c.workflow_id!r} already started",
                type="WorkflowAlreadyStartedError",
            )
            await self._deliver(
                conn,
                tx,
                run.run_id,
                [
                    (
                        EventType.CHILD_WORKFLOW_FAILED,
                        {
                            "child_seq": c.seq,
                            "workflow_id": c.workflow_id,
                            "already_started": True,
                            "failure": failure.model_dump(mode="json"),
                        },
                    )
                ],
                now,
            )
            return
        task_id = str(uuid.uuid4())
        await conn.execute(
            insert(tasks).values(
                task_id=task_id,
                tenant_id=run.tenant_id,
                workflow_id=c.workflow_id,
                workflow_type=c.workflow_type,
                task_queue=c.task_queue,
                input=c.args,
                correlation_id=run.correlation_id,
                requested_at=now,
            )
        )
        await self._create_run(
            conn, tx, task_id=task_id, p=p, correlation_id=run.correlation_id, now=now
        )

    async def _apply_closing(
        self, conn: AsyncConnection, tx: _Tx, run: Row[Any], c: cmd.Command, now: datetime
    ) -> None:
        spec = (c.event_type, c.attributes())
        if isinstance(c, cmd.CompleteWorkflow):
            await self._close_run(
                conn, tx, run.run_id, RunState.COMPLETED, now, [spec], result=c.result
            )
        elif isinstance(c, cmd.FailWorkflow):
            await self._close_run(
                conn, tx, run.run_id, RunState.FAILED, now, [spec], failure=c.failure
            )
        elif isinstance(c, cmd.CancelWorkflow):
            await self._close_run(
                conn,
                tx,
                run.run_id,
                RunState.CANCELED,
                now,
                [spec],
                failure=Failure(kind="canceled", message="workflow canceled"),
            )
        elif isinstance(c, cmd.ContinueAsNew):
            task = (await conn.execute(select(tasks).where(tasks.c.task_id == run.task_id))).one()
            p = StartParams(
                workflow_id=run.workflow_id,
                workflow_type=c.workflow_type,
                task_queue=c.task_queue,
                input=c.args,
                tenant_id=run.tenant_id,
                execution_timeout=(run.options or {}).get("execution_timeout"),
                parent=(run.parent_workflow_id, run.parent_run_id, run.parent_ref)
                if run.parent_run_id
                else None,
            )
            closed = await self._close_run(
                conn, tx, run.run_id, RunState.CONTINUED_AS_NEW, now, [spec]
            )
            if closed is not None:
                new_run = await self._create_run(
                    conn,
                    tx,
                    task_id=task.task_id,
                    p=p,
                    correlation_id=run.correlation_id,
                    now=now,
                    continued_from=run.run_id,
                )
                await self._append(
                    conn,
                    run.run_id,
                    [],
                    now=now,
                    open_only=False,
                    values={"result": {"continued_as_run_id": new_run}},
                )

    async def fail_workflow_task(
        self, item: ClaimedItem, failure: Failure, retry_in: float
    ) -> None:
        """Record a failed workflow task and put it back in the queue after ``retry_in`` seconds."""

        async def tx_fn(conn: AsyncConnection, tx: _Tx) -> None:
            now = utcnow()
            back = (
                await conn.execute(
                    update(queue_items)
                    .where(
                        queue_items.c.id == item.id,
                        queue_items.c.state == QueueItemState.RUNNING.value,
                        queue_items.c.lease_owner == item.lease_owner,
                    )
                    .values(
                        state=QueueItemState.FAILED.value,
                        lease_owner=None,
                        lease_expires_at=None,
                        last_failure=failure.model_dump(mode="json"),
                        updated_at=now,
                    )
                    .returning(queue_items.c.id)
                )
            ).first()
            if back is None:
                return
            await self._append(
                conn,
                item.run_id,
                [
                    (
                        EventType.WORKFLOW_TASK_FAILED,
                        {"failure": failure.model_dump(mode="json"), "attempt": item.attempt},
                    )
                ],
                now=now,
            )
            await conn.execute(
                self._insert(queue_items)
                .values(
                    kind=_WFT,
                    state=QueueItemState.QUEUED.value,
                    tenant_id=item.tenant_id,
                    task_queue=item.task_queue,
                    run_id=item.run_id,
                    workflow_id=item.workflow_id,
                    name=item.name,
                    payload={},
                    attempt=item.attempt + 1,
                    available_at=now + timedelta(seconds=retry_in),
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing()
            )
            tx.queues.add(item.task_queue)

        await self._run_tx(tx_fn)

    async def abandon_workflow_task(self, item: ClaimedItem) -> None:
        """End a workflow task that has nothing to do (its run closed meanwhile)."""
        async with self.engine.begin() as conn:
            await self._end_item(conn, item, QueueItemState.COMPLETED, utcnow())

    # -- activity results ---------------------------------------------------------------------
    async def complete_activity(self, item: ClaimedItem, result: Any) -> bool:
        """Record an activity's result once; False when this attempt no longer holds the item."""

        async def tx_fn(conn: AsyncConnection, tx: _Tx) -> bool:
            now = utcnow()
            if not await self._end_item(conn, item, QueueItemState.COMPLETED, now):
                return False
            attrs = _activity_attrs(item, result=result)
            await self._deliver(conn, tx, item.run_id, [(EventType.ACTIVITY_COMPLETED, attrs)], now)
            return True

        return bool(await self._run_tx(tx_fn))

    async def _end_item(
        self,
        conn: AsyncConnection,
        item: ClaimedItem,
        state: QueueItemState,
        now: datetime,
        failure: Failure | None = None,
    ) -> bool:
        row = (
            await conn.execute(
                update(queue_items)
                .where(
                    queue_items.c.id == item.id,
                    queue_items.c.state == QueueItemState.RUNNING.value,
                    queue_items.c.lease_owner == item.lease_owner,
                    queue_items.c.attempt == item.attempt,
                )
                .values(
                    state=state.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                    last_failure=failure.model_dump(mode="json") if failure else None,
                )
                .returning(queue_items.c.id)
            )
        ).first()
        if row is None:
            _log.warning(
                "late result for %s %s attempt %s of run %s rejected: the lease was lost",
                item.kind,
                item.name,
                item.attempt,
                item.run_id,
            )
        return row is not None

    async def fail_activity(
        self,
        item: ClaimedItem,
        failure: Failure,
        *,
        retry_in: float | None,
        final_type: EventType = EventType.ACTIVITY_FAILED,
        dead: bool = True,
        extra: Sequence[EventSpec] = (),
    ) -> bool:
        """Retry the activity after ``retry_in`` seconds, or record its final failure.

        The final failure of an activity whose retries ran out lands the item in
        ``dead`` with a ``dead_lettered`` event; a non-retryable failure ends it
        ``failed``. False when this attempt no longer holds the item.
        """

        async def tx_fn(conn: AsyncConnection, tx: _Tx) -> bool:
            now = utcnow()
            if retry_in is not None:
                return await self._retry_item(conn, tx, item, failure, retry_in, now, extra)
            state = QueueItemState.DEAD if dead else QueueItemState.FAILED
            if not await self._end_item(conn, item, state, now, failure):
                return False
            activity_failure = Failure(
                kind="activity",
                message="Activity task failed",
                attributes={
                    "activity_type": item.name,
                    "activity_id": item.payload.get("activity_id"),
                    "retry_state": _retry_state(failure, dead),
                },
                cause=failure,
            )
            specs: list[EventSpec] = [
                *extra,
                (
                    final_type,
                    _activity_attrs(item, failure=activity_failure.model_dump(mode="json")),
                ),
            ]
            if dead:
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
        tx: _Tx,
        item: ClaimedItem,
        failure: Failure,
        retry_in: float,
        now: datetime,
        extra: Sequence[EventSpec] = (),
    ) -> bool:
        row = (
            await conn.execute(
                update(queue_items)
                .where(
                    queue_items.c.id == item.id,
                    queue_items.c.state == QueueItemState.RUNNING.value,
                    queue_items.c.lease_owner == item.lease_owner,
                    queue_items.c.attempt == item.attempt,
                )
                .values(
                    state=QueueItemState.QUEUED.value,
                    attempt=item.attempt + 1,
                    available_at=now + timedelta(seconds=retry_in),
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
        await self._append(
            conn,
            item.run_id,
            [
                *extra,
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

        A heartbeat after the item ended (or from a lost lease) changes nothing.
        """
        now = utcnow()
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    update(queue_items)
                    .where(
                        queue_items.c.id == item.id,
                        queue_items.c.state == QueueItemState.RUNNING.value,
                        queue_items.c.lease_owner == item.lease_owner,
                        queue_items.c.attempt == item.attempt,
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

    async def is_cancel_requested(self, item: ClaimedItem) -> bool:
        """True when the activity should stop (cancel requested, or the lease is gone)."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        queue_items.c.cancel_requested,
                        queue_items.c.state,
                        queue_items.c.lease_owner,
                    ).where(queue_items.c.id == item.id)
                )
            ).first()
        return (
            row is None
            or bool(row.cancel_requested)
            or row.state != QueueItemState.RUNNING.value
            or row.lease_owner != item.lease_owner
        )

    async def activity_canceled(self, item: ClaimedItem) -> bool:
        """Record that a running activity stopped because cancellation was requested."""

        async def tx_fn(conn: AsyncConnection, tx: _Tx) -> bool:
            now = utcnow()
            if not await self._end_item(conn, item, QueueItemState.CANCELED, now):
                return False
            failure = Failure(
                kind="activity",
                message="Activity canceled",
                attributes={
                    "activity_type": item.name,
                    "activity_id": item.payload.get("activity_id"),
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
                        _activity_attrs(item, failure=failure.model_dump(mode="json")),
                    )
                ],
                now,
            )
            return True

        return bool(await self._run_tx(tx_fn))

    async def release(self, items: Iterable[ClaimedItem]) -> None:
        """Give items back to the queue at once (graceful shutdown)."""
        ids = [i.id for i in items]
        if not ids:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                update(queue_items)
                .where(queue_items.c.id.in_(ids), queue_items.c.state.in_(_LEASED))
                .values(
                    state=QueueItemState.QUEUED.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    available_at=utcnow(),
                )
            )

    # -- maintenance ------------------------------------------------------------------------------
    async def expired_items(self, limit: int = 100) -> list[ClaimedItem]:
        """Leased items whose lease has expired."""
        now = utcnow()
        async with self.reader.connect() as conn:
            rows = (
                await conn.execute(
                    select(queue_items)
                    .where(queue_items.c.state.in_(_LEASED), queue_items.c.lease_expires_at < now)
                    .order_by(queue_items.c.lease_expires_at)
                    .limit(limit)
                )
            ).all()
        return [_claimed(r) for r in rows]

    async def requeue_expired_workflow_task(self, item: ClaimedItem) -> bool:
        """Adopt-first: return an expired workflow task to the queue for another worker."""

        async def tx_fn(conn: AsyncConnection, tx: _Tx) -> bool:
            now = utcnow()
            row = (
                await conn.execute(
                    update(queue_items)
                    .where(
                        queue_items.c.id == item.id,
                        queue_items.c.state.in_(_LEASED),
                        queue_items.c.lease_owner == item.lease_owner,
                        queue_items.c.lease_expires_at < now,
                    )
                    .values(
                        state=QueueItemState.QUEUED.value,
                        lease_owner=None,
                        lease_expires_at=None,
                        attempt=item.attempt + 1,
                        available_at=now,
                        updated_at=now,
                    )
                    .returning(queue_items.c.id)
                )
            ).first()
            if row is None:
                return False
            spec = (
                EventType.LEASE_EXPIRED,
                {
                    "kind": item.kind,
                    "queue_item_id": item.id,
                    "worker": item.lease_owner,
                    "attempt": item.attempt,
                },
            )
            await self._append(conn, item.run_id, [spec], now=now)
            await self._transition(conn, item.run_id, RunState.QUEUED, now)
            tx.queues.add(item.task_queue)
            return True

        try:
            return bool(await self._run_tx(tx_fn))
        except IntegrityError:
            # A newer pending workflow task of the run already exists: end this one instead.
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(queue_items)
                    .where(
                        queue_items.c.id == item.id,
                        queue_items.c.state.in_(_LEASED),
                        queue_items.c.lease_owner == item.lease_owner,
                    )
                    .values(
                        state=QueueItemState.FAILED.value, lease_owner=None, lease_expires_at=None
                    )
                )
            return True

    async def expired_runs(self, limit: int = 100) -> list[str]:
        """Open runs past their execution timeout."""
        now = utcnow()
        async with self.reader.connect() as conn:
            return list(
                (
                    await conn.execute(
                        select(runs.c.run_id)
                        .where(runs.c.state.in_(_ACTIVE), runs.c.execution_deadline < now)
                        .limit(limit)
                    )
                ).scalars()
            )

    async def time_out_run(self, run_id: str) -> bool:
        """Close a run whose execution timeout passed."""
        now = utcnow()

        async def tx_fn(conn: AsyncConnection, tx: _Tx) -> bool:
            seqs = await self._close_run(
                conn,
                tx,
                run_id,
                RunState.TIMED_OUT,
                now,
                [(EventType.WORKFLOW_TIMED_OUT, {})],
                failure=Failure(
                    kind="timeout", message="workflow execution timed out", type="start_to_close"
                ),
            )
            return seqs is not None

        return bool(await self._run_tx(tx_fn))


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
        "idempotency_key": None,
        "created_at": now,
        "updated_at": now,
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
