"""Applying a workflow task's commands beyond its own append: new queue items (some
leased at once to the committing worker), canceled timers and activities, children
started and canceled, and the closes that need more than the append (continue-as-new,
a close from a state the append could not take)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.errors import Failure
from turnout.contracts.events import EventType
from turnout.contracts.records import QueueItemState
from turnout.contracts.states import RunState
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.schema import queue_items, runs, tasks
from turnout.executors.internal.store.commit_plan import Plan
from turnout.executors.internal.store.core import StoreCore
from turnout.executors.internal.store.records import EagerClaim, RunSnapshot, StartParams
from turnout.executors.internal.store.rows import claimed_item, new_item_row
from turnout.executors.internal.store.sql import ACT, ACTIVE, LEASED, TIMER, activity_lease
from turnout.executors.internal.store.tx import Tx

__all__ = ["CommandOperations"]


class CommandOperations(StoreCore):
    """Apply what a committed workflow task's commands start, cancel and close."""

    async def _apply_commands(
        self, conn: AsyncConnection, tx: Tx, plans: Sequence[Plan], now: datetime
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
                    row = new_item_row(
                        run,
                        ACT,
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
                        new_item_row(
                            run,
                            TIMER,
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
                        eager_runs[r.run_id].claimed.append(claimed_item(r))
            else:
                await conn.execute(insert(queue_items), new_items)
        for p in plans:
            await self._apply_other_commands(conn, tx, p.run, p.commit.commands, now)

    async def _apply_other_commands(
        self,
        conn: AsyncConnection,
        tx: Tx,
        run: RunSnapshot,
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
                        queue_items.c.kind == TIMER,
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
                            runs.c.state.in_(ACTIVE),
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
        self, conn: AsyncConnection, tx: Tx, run: RunSnapshot, seq: int, now: datetime
    ) -> None:
        ended = (
            await conn.execute(
                update(queue_items)
                .where(
                    queue_items.c.run_id == run.run_id,
                    queue_items.c.kind == ACT,
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
                    queue_items.c.kind == ACT,
                    queue_items.c.ref == str(seq),
                    queue_items.c.state.in_(LEASED),
                )
                .values(cancel_requested=True, updated_at=now)
            )

    async def _start_child(
        self, conn: AsyncConnection, tx: Tx, run: RunSnapshot, c: cmd.StartChild, now: datetime
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
                    runs.c.state.in_(ACTIVE),
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
        self, conn: AsyncConnection, tx: Tx, run: RunSnapshot, c: cmd.Command, now: datetime
    ) -> None:
        spec = (c.event_type, c.attributes())
        if c.closes is None:
            return
        if not isinstance(c, cmd.ContinueAsNew):  # the run closes as the command declares
            result, failure = c.outcome()
            await self._close_run(
                conn, tx, run.run_id, c.closes, now, [spec], result=result, failure=failure
            )
        else:  # and continuing as new starts the next run too
            task = (await conn.execute(select(tasks).where(tasks.c.task_id == run.task_id))).one()
            p = StartParams(
                workflow_id=run.workflow_id,
                workflow_type=c.workflow_type,
                task_queue=c.task_queue,
                input=c.args,
                tenant_id=run.tenant_id,
                execution_timeout=(run.options or {}).get("execution_timeout"),
                # A child run's three parent columns are set together.
                parent=cast(
                    "tuple[str, str, str]",
                    (run.parent_workflow_id, run.parent_run_id, run.parent_ref),
                )
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
