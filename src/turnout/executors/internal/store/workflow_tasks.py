"""Committing workflow tasks: a task's commands become events, queue items, children,
and the run's state change, all in one transaction; tasks that finish together commit
together, a few statements for all of them."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.errors import (
    Failure,
)
from turnout.contracts.events import EventType
from turnout.contracts.governance import decision_attributes
from turnout.contracts.records import (
    PolicyDecision,
    QueueItemState,
)
from turnout.contracts.states import RunState, sources_of
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.schema import events, policy_decisions, queue_items, runs, tasks
from turnout.executors.internal.store.core import (
    _ACT,
    _ACTIVE,
    _INFO_COLUMNS,
    _LEASED,
    _TIMER,
    _WFT,
    UNREACHABLE,
    ClaimedItem,
    Closed,
    EagerClaim,
    EventSpec,
    StaleTaskError,
    StartParams,
    StoreCore,
    UnhandledSignalError,
    _claimed,
    _event_rows,
    _item,
    _RunInfo,
    _Tx,
    activity_lease,
    decision_row,
    grouped_case,
    held,
    no_run,
    padded,
    utcnow,
)

__all__ = ["WorkflowTaskCommit", "WorkflowTaskOperations", "runnable_activities"]


@dataclass
class WorkflowTaskCommit:
    """A workflow task's outcome to commit (see ``commit_workflow_task``)."""

    item: ClaimedItem
    expected_task_count: int
    processed_through: int
    time: datetime
    commands: Sequence[cmd.Command]
    decisions: Sequence[PolicyDecision] = ()
    eager: EagerClaim | None = None
    seen_through: int | None = None
    run: Row[Any] | None = None


@dataclass
class _Plan:
    """What one commit writes, worked out before writing: its events, the run's new
    values, how it closes the run, and the activities its worker takes at once."""

    index: int
    """Where the commit stands in its batch."""
    commit: WorkflowTaskCommit
    run: Row[Any]
    specs: list[EventSpec]
    values: dict[str, Any]
    closing: cmd.Command | None
    close: tuple[RunState, Any, Failure | None] | None
    requested: list[cmd.Command]
    taken: list[cmd.ScheduleActivity]
    seqs: range = range(0)
    info: _RunInfo | None = None

    @property
    def arrived(self) -> bool:
        """Events were appended after the task read the history (unknown: assume so)."""
        seen = self.commit.seen_through
        return seen is None or self.seqs.start - 1 > seen


class _Conflict(Exception):
    """The commit at ``index`` of a transaction cannot go through (its run moved on, or
    a signal it has not seen arrived): the transaction rolls back."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


class WorkflowTaskOperations(StoreCore):
    """Commit or fail workflow tasks."""

    async def commit_workflow_task(
        self,
        item: ClaimedItem,
        *,
        expected_task_count: int,
        processed_through: int,
        time: datetime,
        commands: Sequence[cmd.Command],
        decisions: Sequence[PolicyDecision] = (),
        eager: EagerClaim | None = None,
        seen_through: int | None = None,
        run: Row[Any] | None = None,
    ) -> range:
        """Commit one workflow task: its commands, events, queue items and state change
        (and the start policy's decision, on a run's first task). With ``eager``, the
        activities it schedules that the worker can run are created already leased to it.
        ``seen_through`` (the last seq the task read) lets the commit skip waking other
        workers when nothing arrived while the task ran. ``run`` is the run's row as the
        task read it (saves reading it again); the commit holds only if the run is still
        in that state.

        Raises StaleTaskError (changing nothing) when the lease was lost or another
        task of the run committed first.
        """
        commit = WorkflowTaskCommit(
            item,
            expected_task_count,
            processed_through,
            time,
            commands,
            decisions,
            eager,
            seen_through,
            run,
        )
        (outcome,) = await self.commit_workflow_tasks([commit])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def commit_workflow_tasks(
        self, commits: Sequence[WorkflowTaskCommit]
    ) -> list[range | Exception]:
        """Commit many workflow tasks (of different runs) in one transaction, a few
        statements for all of them; for each, its seqs, or the StaleTaskError or
        UnhandledSignalError that refused it alone (changing nothing of it).

        A commit that cannot go through is left out and the others are committed again
        together; when the transaction fails for another reason than the database being
        out of reach (a child id taken by a concurrent start...), they are committed one
        by one. One task's refusal never fails another.
        """
        outcomes: dict[int, range | Exception] = {}
        pending = list(enumerate(commits))
        while pending:
            try:
                written = await self._run_tx(self._commit_tx, [c for _, c in pending])
            except _Conflict as conflict:
                refused = pending.pop(conflict.index)
                outcomes[refused[0]] = conflict.error
                continue
            except UNREACHABLE:
                raise  # the database is out of reach: every caller hears it at once
            except Exception:
                if len(pending) == 1:
                    raise
                for i, commit in pending:
                    try:
                        (outcomes[i],) = await self.commit_workflow_tasks([commit])
                    except Exception as exc:
                        outcomes[i] = exc
                break
            outcomes.update((i, o) for (i, _), o in zip(pending, written, strict=True))
            break
        return [outcomes[i] for i in range(len(commits))]

    async def _commit_tx(
        self, conn: AsyncConnection, tx: _Tx, commits: Sequence[WorkflowTaskCommit]
    ) -> list[range | Exception]:
        now = utcnow()
        for commit in commits:
            if commit.eager is not None:
                commit.eager.claimed.clear()  # a retried transaction starts over
        ended = await self._end_items(
            conn, [c.item for c in commits], QueueItemState.COMPLETED, now, warn=False
        )
        live = [(i, c) for i, c in enumerate(commits) if c.item.id in ended]
        unread = [c.item.run_id for _, c in live if c.run is None]
        read = {
            r.run_id: r
            for r in (
                await conn.execute(select(runs).where(runs.c.run_id.in_(unread))) if unread else []
            )
        }
        plans = [_plan(i, c, c.run or read[c.item.run_id], now) for i, c in live]
        await self._append_plans(conn, tx, plans, now)
        suspect = [p for p in plans if p.closing is not None and p.arrived]
        if suspect:
            # As on Temporal: a run never closes over a signal it has not seen.
            unseen = (
                await conn.execute(
                    select(events.c.run_id, events.c.seq)
                    .where(
                        events.c.type == EventType.SIGNAL_RECEIVED.value,
                        or_(
                            *(
                                and_(
                                    events.c.run_id == p.run.run_id,
                                    events.c.seq > p.commit.processed_through,
                                )
                                for p in suspect
                            )
                        ),
                    )
                    .limit(1)
                )
            ).first()
            if unseen is not None:
                p = next(p for p in suspect if p.run.run_id == unseen.run_id)
                item = p.commit.item
                raise _Conflict(
                    p.index,
                    UnhandledSignalError(
                        f"signal at seq {unseen.seq} arrived while workflow task {item.id} "
                        "decided to close the run; the task is redone with it"
                    ),
                )
        decided = [decision_row(d) for p in plans for d in p.commit.decisions]
        if decided:
            await conn.execute(insert(policy_decisions), decided)
        # Events arrived while a task ran, after it read the history. A task is queued for
        # them, unless the one queued for them was this very task: claimed before they
        # committed, it read the history without them. Make sure one is queued (at most
        # one pending task per run: usually this changes nothing).
        await self._enqueue_wfts(
            conn,
            tx,
            [p.info for p in plans if p.info is not None and p.arrived and p.closing is None],
            now,
        )
        await self._apply_commands(conn, tx, plans, now)
        for p in plans:
            if p.requested and p.closing is None:
                await self._request_approvals(conn, p.run, p.requested, now)
        await self._closed_many(
            conn,
            tx,
            [Closed(p.run.run_id, *p.close) for p in plans if p.close is not None],
            now,
        )
        for p in plans:
            if p.closing is not None and p.close is None:
                await self._apply_closing(conn, tx, p.run, p.closing, now)
        seqs = {p.index: p.seqs for p in plans}
        return [seqs[i] if i in seqs else _lease_lost(c.item) for i, c in enumerate(commits)]

    async def _append_plans(
        self, conn: AsyncConnection, tx: _Tx, plans: Sequence[_Plan], now: datetime
    ) -> None:
        """Append the events of ``plans`` and set their runs' new values, one statement
        for all of them, each guarded by the state its task read. Raises _Conflict when a
        run moved on meanwhile."""
        if not plans:
            return
        by_run = {p.run.run_id: p for p in plans}
        if len(plans) == 1:
            (p,) = plans
            guard: Any = and_(
                runs.c.run_id == p.run.run_id,
                runs.c.workflow_task_count == p.commit.expected_task_count,
                runs.c.state == p.run.state,
            )
            values: dict[str, Any] = {**p.values, "next_seq": runs.c.next_seq + len(p.specs)}
        else:
            # Padded (see ``padded``): a few statement shapes whatever the batch size. The
            # plain IN lets SQLite use the primary key (it scans for a row-value IN).
            guard = and_(
                runs.c.run_id.in_(padded(list(by_run), no_run)),
                tuple_(runs.c.run_id, runs.c.workflow_task_count, runs.c.state).in_(
                    padded(
                        [(p.run.run_id, p.commit.expected_task_count, p.run.state) for p in plans],
                        lambda i: (no_run(i), 0, ""),
                    )
                ),
            )
            counts = {r: len(p.specs) for r, p in by_run.items()}
            values = {"next_seq": runs.c.next_seq + grouped_case(runs.c.run_id, counts, else_=0)}
            for name in sorted({name for p in plans for name in p.values}):
                column = runs.c[name]
                values[name] = grouped_case(
                    runs.c.run_id,
                    {r: p.values[name] for r, p in by_run.items() if name in p.values},
                    else_=column,
                    type_=column.type,
                )
        rows = (
            await conn.execute(
                update(runs)
                .where(guard, runs.c.state.in_(_ACTIVE))
                .values(updated_at=now, **values)
                .returning(runs.c.next_seq, *_INFO_COLUMNS)
            )
        ).all()
        for row in rows:
            info = _RunInfo(*row[1:])
            p = by_run[info.run_id]
            first = row.next_seq - len(p.specs)
            p.seqs, p.info = range(first, first + len(p.specs)), info
            tx.info[info.run_id] = info
            tx.events.extend(_event_rows(info, first, p.specs, now))
        if len(rows) < len(plans):
            moved = next(p for p in plans if p.info is None)
            raise _Conflict(
                moved.index,
                StaleTaskError(
                    f"run {moved.run.run_id} moved on while workflow task "
                    f"{moved.commit.item.id} ran"
                ),
            )

    async def _apply_commands(
        self, conn: AsyncConnection, tx: _Tx, plans: Sequence[_Plan], now: datetime
    ) -> None:
        new_items: list[dict[str, Any]] = []
        eager_runs: dict[str, EagerClaim] = {}
        for p in plans:
            run, eager = p.run, p.commit.eager
            if eager is not None and p.taken:
                eager_runs[run.run_id] = eager
            for c in p.commit.commands:
                if isinstance(c, cmd.ScheduleActivity):
                    deadline = (
                        now + timedelta(seconds=c.schedule_to_close_timeout)
                        if c.schedule_to_close_timeout
                        else None
                    )
                    row = _item(
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
                    if eager is not None and any(c is t for t in p.taken):
                        row.update(
                            state=QueueItemState.RUNNING.value,
                            lease_owner=eager.owner,
                            lease_expires_at=activity_lease(row["payload"], deadline, now),
                            started_at=now,
                        )
                    else:
                        tx.queues.add(c.task_queue)
                    new_items.append(row)
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
        if new_items:  # before the cancels below, which may name items scheduled just now
            if eager_runs:
                rows = (
                    await conn.execute(
                        insert(queue_items).returning(*queue_items.c, sort_by_parameter_order=True),
                        new_items,
                    )
                ).all()
                for r in rows:
                    if r.state == QueueItemState.RUNNING.value:
                        eager_runs[r.run_id].claimed.append(_claimed(r))
            else:
                await conn.execute(insert(queue_items), new_items)
        for p in plans:
            await self._apply_other_commands(conn, tx, p.run, p.commit.commands, now)

    async def _apply_other_commands(
        self,
        conn: AsyncConnection,
        tx: _Tx,
        run: Row[Any],
        commands: Sequence[cmd.Command],
        now: datetime,
    ) -> None:
        """The commands that cancel and start other work (not the closing one)."""
        for c in commands:
            if isinstance(c, cmd.CancelTimer):
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
        self, item: ClaimedItem, failure: Failure, retry_in: float, *, dead: bool = False
    ) -> None:
        """Record a failed workflow task and put it back in the queue after ``retry_in`` seconds.

        ``dead``: give up on it instead (state ``dead``, a ``dead_lettered`` event, no
        retry queued); the run stays open, and its next inbound event (a signal, a
        cancellation) queues a workflow task again.
        """

        async def tx_fn(conn: AsyncConnection, tx: _Tx) -> None:
            now = utcnow()
            back = (
                await conn.execute(
                    update(queue_items)
                    .where(
                        *held(item),
                    )
                    .values(
                        state=(QueueItemState.DEAD if dead else QueueItemState.FAILED).value,
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
                    ),
                    *(
                        [
                            (
                                EventType.DEAD_LETTERED,
                                {
                                    "kind": _WFT,
                                    "attempt": item.attempt,
                                    "queue_item_id": item.id,
                                    "reason": failure.message,
                                },
                            )
                        ]
                        if dead
                        else []
                    ),
                ],
                now=now,
            )
            if dead:
                return
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


def _lease_lost(item: ClaimedItem) -> StaleTaskError:
    return StaleTaskError(f"workflow task {item.id} is no longer leased to {item.lease_owner}")


def _plan(index: int, c: WorkflowTaskCommit, run: Row[Any], now: datetime) -> _Plan:
    """What committing ``c`` writes, given its run's row as the task read it."""
    specs: list[EventSpec] = [
        (
            EventType.WORKFLOW_TASK_COMPLETED,
            {
                "processed_through": c.processed_through,
                "time": c.time.isoformat(),
                "worker": c.item.lease_owner,
            },
        )
    ]
    specs.extend((EventType.POLICY_DECIDED, decision_attributes(d)) for d in c.decisions)
    closing: cmd.Command | None = None
    for command in c.commands:
        if isinstance(command, cmd.RequestCancelChild):
            continue
        if isinstance(
            command,
            cmd.CompleteWorkflow | cmd.FailWorkflow | cmd.CancelWorkflow | cmd.ContinueAsNew,
        ):
            closing = command
            continue
        specs.append((command.event_type, command.attributes()))
    values: dict[str, Any] = {"workflow_task_count": c.expected_task_count + 1}
    # The state this task's transitions start from (its commit is guarded by it). Whoever
    # moves it meanwhile (an approval decided, a cancel) queues a task of its own, which
    # redoes this one.
    state = run.state
    if state == RunState.CLAIMED.value:
        specs.append((EventType.STATE_CHANGED, {"from": state, "to": RunState.RUNNING.value}))
        state = values["state"] = RunState.RUNNING.value
    requested = [x for x in c.commands if isinstance(x, cmd.RequestApproval)]
    if requested and closing is None and state == RunState.RUNNING.value:
        specs.append(
            (EventType.STATE_CHANGED, {"from": state, "to": RunState.WAITING_APPROVAL.value})
        )
        values["state"] = RunState.WAITING_APPROVAL.value
    # The activities this worker takes at once: started in this very append.
    taken = _eager_activities(c.commands, c.eager) if closing is None else []
    specs.extend(
        (
            EventType.ACTIVITY_STARTED,
            {
                "activity_seq": a.seq,
                "activity_id": a.attributes().get("activity_id"),
                "activity_type": a.activity_type,
                "attempt": 1,
                "worker": c.eager.owner if c.eager else None,
            },
        )
        for a in taken
    )
    # A plain close (complete, fail, cancel) is part of the same append.
    close = _close_target(closing, state)
    if close is not None:
        target, result, failure = close
        specs.append((closing.event_type, closing.attributes()))  # type: ignore[union-attr]
        specs.append((EventType.STATE_CHANGED, {"from": state, "to": target.value}))
        values.update(state=target.value, closed_at=now, result=result)
        if failure is not None:
            values["failure"] = failure.model_dump(mode="json")
    return _Plan(index, c, run, specs, values, closing, close, list(requested), taken)


def _eager_activities(
    commands: Sequence[cmd.Command], eager: EagerClaim | None
) -> list[cmd.ScheduleActivity]:
    """The activities of ``commands`` that ``eager``'s worker runs and has slots for."""
    if eager is None or eager.limit <= 0:
        return []
    return runnable_activities(commands, eager.task_queue, eager.names)[: eager.limit]


def runnable_activities(
    commands: Sequence[cmd.Command], task_queue: str, names: Collection[str]
) -> list[cmd.ScheduleActivity]:
    """The activities ``commands`` schedule on ``task_queue`` with one of ``names`` (not
    those the same commands cancel at once): what a worker there could start at once."""
    canceled = {c.seq for c in commands if isinstance(c, cmd.RequestCancelActivity)}
    return [
        c
        for c in commands
        if isinstance(c, cmd.ScheduleActivity)
        and c.task_queue == task_queue
        and c.activity_type in names
        and c.seq not in canceled
    ]


def _close_target(
    closing: cmd.Command | None, state: str
) -> tuple[RunState, Any, Failure | None] | None:
    """(state, result, failure) of a close that joins the commit's own append: complete,
    fail or cancel from a state the transition table allows (else None)."""
    if isinstance(closing, cmd.CompleteWorkflow):
        close: tuple[RunState, Any, Failure | None] = (RunState.COMPLETED, closing.result, None)
    elif isinstance(closing, cmd.FailWorkflow):
        close = (RunState.FAILED, None, closing.failure)
    elif isinstance(closing, cmd.CancelWorkflow):
        close = (
            RunState.CANCELED,
            None,
            Failure(kind="canceled", message="workflow canceled"),
        )
    else:
        return None
    return close if RunState(state) in sources_of(close[0]) else None
