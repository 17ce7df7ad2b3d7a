"""Applying a workflow task's commands beyond its own append: new queue items (some
leased at once to the committing worker), canceled timers and activities, children
started and canceled, other workflows signaled and canceled (``external.py``), and the
closes that need more than the append (continue-as-new, a close from a state the append
could not take).

Each command class that does more than append its event has one entry in a table
here: :data:`NEW_ITEMS` for those that create a queue item, :data:`APPLY` for those
that cancel, start or signal other work, :data:`CLOSE` for a close that does more than
close the run. A new command adds its entry; nothing here asks a command for its class.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.errors import Failure
from turnout.contracts.events import EventType
from turnout.contracts.memo import upserted
from turnout.contracts.records import QueueItemState
from turnout.contracts.search_attributes import upserted_attributes
from turnout.contracts.states import RunState
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.schema import events, queue_items, runs, tasks
from turnout.executors.internal.store.activity_task import ActivityTask
from turnout.executors.internal.store.commit_plan import Plan
from turnout.executors.internal.store.external import ExternalOperations
from turnout.executors.internal.store.records import (
    EagerClaim,
    RunSnapshot,
    StartParams,
)
from turnout.executors.internal.store.rows import claimed_item, new_item_row
from turnout.executors.internal.store.sql import ACT, ACTIVE, LEASED, TIMER, activity_lease
from turnout.executors.internal.store.tx import Tx
from turnout.executors.internal.store.updates import UpdateOperations

__all__ = ["CommandOperations"]


class CommandOperations(ExternalOperations, UpdateOperations):
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
                new = _NEW_ITEM.get(type(c))
                if new is None:
                    continue
                row = new.row(run, c, now)
                if eager is not None and any(c is t for t in p.taken):
                    row.update(
                        state=QueueItemState.RUNNING.value,
                        lease_owner=eager.owner,
                        lease_expires_at=activity_lease(
                            ActivityTask(row["payload"]), row["deadline_at"], now
                        ),
                        started_at=now,
                    )
                elif new.wakes:
                    tx.queues.add(row["task_queue"])
                new_items.append(row)
        if new_items:  # before the cancels below, which may name items scheduled just now
            if eager_runs:
                later = await self._insert_returning_later(conn, queue_items, new_items)

                async def leased() -> None:  # read once the commit is back
                    for r in await later():
                        if r.state == QueueItemState.RUNNING.value:
                            eager_runs[r.run_id].claimed.append(claimed_item(r))

                tx.after.append(leased)
            else:
                await self._insert_rows(conn, queue_items, new_items)
        for p in plans:  # the commands that cancel and start other work
            for c in p.commit.commands:
                apply = _APPLY.get(type(c))
                if apply is not None:
                    await apply(self, conn, tx, p.run, c, now)

    async def _cancel_timer(
        self, conn: AsyncConnection, tx: Tx, run: RunSnapshot, c: cmd.CancelTimer, now: datetime
    ) -> None:
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

    async def _cancel_activity(
        self,
        conn: AsyncConnection,
        tx: Tx,
        run: RunSnapshot,
        c: cmd.RequestCancelActivity,
        now: datetime,
    ) -> None:
        """A queued attempt is canceled at once; a leased one is asked to stop."""
        ended = (
            await conn.execute(
                update(queue_items)
                .where(
                    queue_items.c.run_id == run.run_id,
                    queue_items.c.kind == ACT,
                    queue_items.c.ref == str(c.seq),
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
                    queue_items.c.ref == str(c.seq),
                    queue_items.c.state.in_(LEASED),
                )
                .values(cancel_requested=True, updated_at=now)
            )

    async def _cancel_child(
        self,
        conn: AsyncConnection,
        tx: Tx,
        run: RunSnapshot,
        c: cmd.RequestCancelChild,
        now: datetime,
    ) -> None:
        """The child's cancellation request, recorded on the child (if it is still open)."""
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

    async def _reuse_refused(self, conn: AsyncConnection, tenant_id: str, c: cmd.StartChild) -> Any:
        """The closed run whose id the child may not take under its id reuse policy."""
        if c.id_reuse_policy == "allow_duplicate":
            return None
        closed = select(runs.c.run_id).where(
            runs.c.tenant_id == tenant_id, runs.c.workflow_id == c.workflow_id
        )
        if c.id_reuse_policy == "allow_duplicate_failed_only":
            closed = closed.where(runs.c.state == RunState.COMPLETED.value)
        return (await conn.execute(closed.limit(1))).first()

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
            task_timeout=c.task_timeout,
            parent=(run.workflow_id, run.run_id, str(c.seq)),
            parent_close_policy=c.parent_close_policy,
            memo=c.memo,
            search_attributes=c.search_attributes,
            header=c.header,
        )
        taken = (
            await conn.execute(
                select(runs.c.run_id).where(
                    runs.c.tenant_id == run.tenant_id,
                    runs.c.workflow_id == c.workflow_id,
                    runs.c.state.in_(ACTIVE),
                )
            )
        ).first() or await self._reuse_refused(conn, run.tenant_id, c)
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

    async def _start_memo(self, conn: AsyncConnection, run_id: str) -> dict[str, Any]:
        """The memo the run started with (what continue-as-new gives the next run, as on
        Temporal: not the run's upserts)."""
        return dict((await self._started(conn, run_id)).get("memo") or {})

    async def _started(self, conn: AsyncConnection, run_id: str) -> dict[str, Any]:
        """The attributes of the run's ``workflow_started`` event."""
        started = (
            await conn.execute(
                select(events.c.attributes).where(events.c.run_id == run_id, events.c.seq == 1)
            )
        ).scalar()
        return dict(started or {})

    async def _memo_of(self, conn: AsyncConnection, run_id: str) -> dict[str, Any]:
        """The run's memo as this transaction sees it (its upserts applied)."""
        found = (await conn.execute(select(runs.c.memo).where(runs.c.run_id == run_id))).scalar()
        return dict(found or {})

    async def _upsert_memo(
        self, conn: AsyncConnection, tx: Tx, run: RunSnapshot, c: cmd.UpsertMemo, now: datetime
    ) -> None:
        """Apply a memo upsert to the run's row (None removes a key)."""
        memo = upserted(await self._memo_of(conn, run.run_id), c.memo)
        await conn.execute(
            update(runs).where(runs.c.run_id == run.run_id).values(memo=memo or None)
        )

    async def _search_attributes_of(self, conn: AsyncConnection, run_id: str) -> dict[str, Any]:
        """The run's search attributes as this transaction sees them (upserts applied)."""
        found = (
            await conn.execute(select(runs.c.search_attributes).where(runs.c.run_id == run_id))
        ).scalar()
        return dict(found or {})

    async def _upsert_search_attributes(
        self,
        conn: AsyncConnection,
        tx: Tx,
        run: RunSnapshot,
        c: cmd.UpsertSearchAttributes,
        now: datetime,
    ) -> None:
        """Apply an upsert of search attributes to the run's row and its index rows."""
        current = await self._search_attributes_of(conn, run.run_id)
        changed = upserted_attributes(current, c.search_attributes)
        await self._index_search_attributes(
            conn, run.tenant_id, run.run_id, c.search_attributes, fresh=False
        )
        await conn.execute(
            update(runs)
            .where(runs.c.run_id == run.run_id)
            .values(search_attributes=changed or None)
        )

    async def _apply_closing(
        self, conn: AsyncConnection, tx: Tx, run: RunSnapshot, c: cmd.Command, now: datetime
    ) -> None:
        """Close the run as ``c`` declares, when its close was not part of the append."""
        if c.closes is None:
            return
        close: _Apply = _CLOSE.get(type(c), CommandOperations._close_as_declared)
        await close(self, conn, tx, run, c, now)

    async def _close_as_declared(
        self, conn: AsyncConnection, tx: Tx, run: RunSnapshot, c: cmd.Command, now: datetime
    ) -> None:
        assert c.closes is not None
        result, failure = c.outcome()
        closed = await self._close_run(
            conn,
            tx,
            run.run_id,
            c.closes,
            now,
            [(c.event_type, c.attributes())],
            result=result,
            failure=failure,
        )
        cron = (run.options or {}).get("cron_schedule")
        if closed is not None and cron and c.closes in (RunState.COMPLETED, RunState.FAILED):
            await self._next_cron_run(conn, tx, run, cron, now)

    async def _next_cron_run(
        self, conn: AsyncConnection, tx: Tx, run: RunSnapshot, cron: str, now: datetime
    ) -> None:
        """Start the next run of a cron workflow that completed or failed, as Temporal's
        server does: the same input and options, its first task at the next cron time."""
        options = run.options or {}
        started = await self._started(conn, run.run_id)
        p = StartParams(
            workflow_id=run.workflow_id,
            workflow_type=run.workflow_type,
            task_queue=run.task_queue,
            input=run.input,
            tenant_id=run.tenant_id,
            execution_timeout=options.get("execution_timeout"),
            run_timeout=options.get("run_timeout"),
            task_timeout=options.get("task_timeout"),
            memo=dict(started.get("memo") or {}),
            search_attributes=await self._search_attributes_of(conn, run.run_id),
            cron_schedule=cron,
            header=dict(started.get("header") or {}),
        )
        await self._create_run(
            conn,
            tx,
            task_id=run.task_id,
            p=p,
            correlation_id=run.correlation_id,
            now=now,
            continued_from=run.run_id,
        )

    async def _continue_as_new(
        self, conn: AsyncConnection, tx: Tx, run: RunSnapshot, c: cmd.ContinueAsNew, now: datetime
    ) -> None:
        """Close the run ``continued_as_new`` and start the next run of its task."""
        task = (await conn.execute(select(tasks).where(tasks.c.task_id == run.task_id))).one()
        p = StartParams(
            workflow_id=run.workflow_id,
            workflow_type=c.workflow_type,
            task_queue=c.task_queue,
            input=c.args,
            tenant_id=run.tenant_id,
            execution_timeout=(run.options or {}).get("execution_timeout"),
            run_timeout=(run.options or {}).get("run_timeout"),
            task_timeout=(run.options or {}).get("task_timeout"),
            parent_close_policy=(run.options or {}).get("parent_close_policy"),
            # A child run's three parent columns are set together.
            parent=cast(
                "tuple[str, str, str]",
                (run.parent_workflow_id, run.parent_run_id, run.parent_ref),
            )
            if run.parent_run_id
            else None,
            memo=await self._start_memo(conn, run.run_id),
            # As on Temporal, the next run has the search attributes the run has now.
            search_attributes=await self._search_attributes_of(conn, run.run_id),
            header=c.header,
        )
        spec = (c.event_type, c.attributes())
        closed = await self._close_run(conn, tx, run.run_id, RunState.CONTINUED_AS_NEW, now, [spec])
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


# -- the tables: one entry per command class that does more than append its event ---------


def _activity_item(run: RunSnapshot, c: cmd.ScheduleActivity, now: datetime) -> dict[str, Any]:
    deadline = (
        now + timedelta(seconds=c.schedule_to_close_timeout)
        if c.schedule_to_close_timeout
        else None
    )
    return new_item_row(
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


def _timer_item(run: RunSnapshot, c: cmd.StartTimer, now: datetime) -> dict[str, Any]:
    return new_item_row(
        run,
        TIMER,
        run.task_queue,
        None,
        str(c.seq),
        now,
        payload={"duration": c.duration},
        available_at=now + timedelta(seconds=c.duration),
    )


class _NewItem(NamedTuple):
    """How a command's queue item is made."""

    row: Callable[[RunSnapshot, Any, datetime], dict[str, Any]]
    """The new item's row (queued; an activity the committing worker takes at once is
    leased to it instead)."""
    wakes: bool
    """Whether a queued new item wakes its task queue's workers (a timer waits for its
    time: the workers read when it is due)."""


_Apply = Callable[
    [CommandOperations, AsyncConnection, Tx, RunSnapshot, Any, datetime], Awaitable[None]
]

_NEW_ITEM: dict[type[cmd.Command], _NewItem] = {
    cmd.ScheduleActivity: _NewItem(_activity_item, wakes=True),
    cmd.StartTimer: _NewItem(_timer_item, wakes=False),
}
"""The commands that create a queue item, applied before the others (which may cancel
an item created by the same commit)."""

_APPLY: dict[type[cmd.Command], _Apply] = {
    cmd.CancelTimer: CommandOperations._cancel_timer,
    cmd.RequestCancelActivity: CommandOperations._cancel_activity,
    cmd.StartChild: CommandOperations._start_child,
    cmd.RequestCancelChild: CommandOperations._cancel_child,
    cmd.SignalExternal: ExternalOperations._signal_external,
    cmd.RequestCancelExternal: ExternalOperations._cancel_external,
    cmd.AcceptUpdate: UpdateOperations._accept_update,
    cmd.RejectUpdate: UpdateOperations._reject_update,
    cmd.CompleteUpdate: UpdateOperations._complete_update,
    cmd.UpsertMemo: CommandOperations._upsert_memo,
    cmd.UpsertSearchAttributes: CommandOperations._upsert_search_attributes,
}
"""The commands that cancel, start or signal other work, applied in the order they were
made."""

_CLOSE: dict[type[cmd.Command], _Apply] = {
    cmd.ContinueAsNew: CommandOperations._continue_as_new,
}
"""The closing commands that do more than close the run as they declare."""
