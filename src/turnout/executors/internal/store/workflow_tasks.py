"""Committing a workflow task: its commands become events, queue items, children,
and the run's state change, all in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, insert, select, update
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
    _LEASED,
    _TIMER,
    _WFT,
    ClaimedItem,
    EagerClaim,
    EventSpec,
    StaleTaskError,
    StartParams,
    StoreCore,
    UnhandledSignalError,
    _claimed,
    _item,
    _Tx,
    activity_lease,
    decision_row,
    held,
    utcnow,
)

__all__ = ["WorkflowTaskOperations", "runnable_activities"]


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
        seqs: range = await self._run_tx(
            self._commit_tx,
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
        decisions: Sequence[PolicyDecision],
        eager: EagerClaim | None,
        seen_through: int | None,
        read: Row[Any] | None,
    ) -> range:
        now = utcnow()
        done = (
            await conn.execute(
                update(queue_items)
                .where(
                    *held(item),
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
        run = read or (await conn.execute(select(runs).where(runs.c.run_id == item.run_id))).one()
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
        specs.extend((EventType.POLICY_DECIDED, decision_attributes(d)) for d in decisions)
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
        # The state this task's transitions start from. Whoever moves it meanwhile (an
        # approval decided, a cancel) queues a task of its own, which redoes this one.
        guard = and_(runs.c.workflow_task_count == expected, runs.c.state == run.state)
        state = run.state
        if state == RunState.CLAIMED.value:
            specs.append((EventType.STATE_CHANGED, {"from": state, "to": RunState.RUNNING.value}))
            state = values["state"] = RunState.RUNNING.value
        requested = [c for c in commands if isinstance(c, cmd.RequestApproval)]
        if requested and closing is None and state == RunState.RUNNING.value:
            specs.append(
                (
                    EventType.STATE_CHANGED,
                    {"from": state, "to": RunState.WAITING_APPROVAL.value},
                )
            )
            values["state"] = RunState.WAITING_APPROVAL.value
        # The activities this worker takes at once: started in this very append.
        taken = _eager_activities(commands, eager) if closing is None else []
        specs.extend(
            (
                EventType.ACTIVITY_STARTED,
                {
                    "activity_seq": c.seq,
                    "activity_id": c.attributes().get("activity_id"),
                    "activity_type": c.activity_type,
                    "attempt": 1,
                    "worker": eager.owner if eager else None,
                },
            )
            for c in taken
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
        seqs = await self._append(
            conn, item.run_id, specs, now=now, values=values, extra_where=guard, tx=tx
        )
        if seqs is None:
            raise StaleTaskError(f"run {item.run_id} moved on while workflow task {item.id} ran")
        # Events appended since the task read the history (None: unknown, assume some).
        arrived = seen_through is None or seqs.start - 1 > seen_through
        if closing is not None and arrived:
            unseen = (
                await conn.execute(
                    select(events.c.seq)
                    .where(
                        events.c.run_id == item.run_id,
                        events.c.seq > processed_through,
                        events.c.type == EventType.SIGNAL_RECEIVED.value,
                    )
                    .limit(1)
                )
            ).first()
            if unseen is not None:
                # As on Temporal: a run never closes over a signal it has not seen.
                raise UnhandledSignalError(
                    f"signal at seq {unseen.seq} arrived while workflow task {item.id} "
                    "decided to close the run; the task is redone with it"
                )
        if decisions:
            await conn.execute(insert(policy_decisions), [decision_row(d) for d in decisions])
        if arrived and closing is None:
            # Events arrived while the task ran, after it read the history. A task is
            # queued for them, unless the one queued for them was this very task: claimed
            # before they committed, it read the history without them. Make sure one is
            # queued (at most one pending task per run: usually this changes nothing).
            await self._enqueue_wft(conn, tx, run.run_id, now)
        if eager is not None:
            eager.claimed.clear()  # a retried transaction starts over
        await self._apply_commands(conn, tx, run, commands, now, taken, eager)
        if requested and closing is None:
            await self._request_approvals(conn, run, requested, now)
        if close is not None:
            await self._closed(conn, tx, run.run_id, close[0], now, close[1], close[2])
        elif closing is not None:
            await self._apply_closing(conn, tx, run, closing, now)
        return seqs

    async def _apply_commands(
        self,
        conn: AsyncConnection,
        tx: _Tx,
        run: Row[Any],
        commands: Sequence[cmd.Command],
        now: datetime,
        taken: Sequence[cmd.ScheduleActivity] = (),
        eager: EagerClaim | None = None,
    ) -> None:
        new_items: list[dict[str, Any]] = []
        for c in commands:
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
                if eager is not None and any(c is t for t in taken):
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
            if taken and eager is not None:
                rows = (
                    await conn.execute(
                        insert(queue_items).returning(*queue_items.c, sort_by_parameter_order=True),
                        new_items,
                    )
                ).all()
                eager.claimed.extend(
                    _claimed(r) for r in rows if r.state == QueueItemState.RUNNING.value
                )
            else:
                await conn.execute(insert(queue_items), new_items)
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
        self, item: ClaimedItem, failure: Failure, retry_in: float
    ) -> None:
        """Record a failed workflow task and put it back in the queue after ``retry_in`` seconds."""

        async def tx_fn(conn: AsyncConnection, tx: _Tx) -> None:
            now = utcnow()
            back = (
                await conn.execute(
                    update(queue_items)
                    .where(
                        *held(item),
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
