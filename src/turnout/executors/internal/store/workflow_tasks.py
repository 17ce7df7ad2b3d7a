"""Committing workflow tasks: a task's commands become events, queue items, children,
and the run's state change, all in one transaction; tasks that finish together commit
together, a few statements for all of them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.errors import Failure
from turnout.contracts.events import EventType
from turnout.contracts.records import QueueItemState
from turnout.executors.internal.schema import events, policy_decisions, queue_items, runs
from turnout.executors.internal.store.apply import CommandOperations
from turnout.executors.internal.store.commit_plan import (
    Conflict,
    Plan,
    lease_lost,
    plan_commit,
    runnable_activities,
)
from turnout.executors.internal.store.errors import (
    UNREACHABLE,
    StaleTaskError,
    UnhandledSignalError,
)
from turnout.executors.internal.store.governance import GovernanceOperations
from turnout.executors.internal.store.items import LeaseNotHeld
from turnout.executors.internal.store.records import (
    ClaimedItem,
    Closed,
    RunInfo,
    WorkflowTaskCommit,
)
from turnout.executors.internal.store.rows import decision_row, event_rows, run_snapshot
from turnout.executors.internal.store.sql import (
    ACTIVE,
    INFO_COLUMNS,
    RUN_COLUMNS,
    WFT,
    grouped_case,
    held,
    no_run,
    utcnow,
)
from turnout.executors.internal.store.tx import Tx

__all__ = ["WorkflowTaskOperations", "runnable_activities"]


class WorkflowTaskOperations(CommandOperations, GovernanceOperations):
    """Commit or fail workflow tasks."""

    async def commit_workflow_task(self, commit: WorkflowTaskCommit) -> range:
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
        guess = True
        while pending:
            try:
                written = await self._run_tx(self._commit_tx, [c for _, c in pending], guess)
            except LeaseNotHeld:
                guess = False  # again, knowing which leases are held before planning
                continue
            except Conflict as conflict:
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
        self,
        conn: AsyncConnection,
        tx: Tx,
        commits: Sequence[WorkflowTaskCommit],
        guess: bool = False,
    ) -> list[range | Exception]:
        """With ``guess`` (and a dialect that pipelines), every lease is taken to be held
        and the items' end travels with the runs' update, one round trip for both; a
        lease that was not raises LeaseNotHeld, and the commit is made again without."""
        now = utcnow()
        for commit in commits:
            if commit.eager is not None:
                commit.eager.claimed.clear()  # a retried transaction starts over
        ending = await self._ending(conn, [c.item for c in commits], QueueItemState.COMPLETED, now)
        guess = guess and self.pipelines and all(c.run is not None for c in commits)
        if guess:
            live = list(enumerate(commits))
        else:
            ended = await ending()
            live = [(i, c) for i, c in enumerate(commits) if c.item.id in ended]
        unread = [c.item.run_id for _, c in live if c.run is None]
        read = {
            r.run_id: run_snapshot(r)
            for r in (
                await conn.execute(select(*RUN_COLUMNS).where(runs.c.run_id.in_(unread)))
                if unread
                else []
            )
        }
        plans = [plan_commit(i, c, c.run or read[c.item.run_id], now) for i, c in live]
        try:
            await self._append_plans(conn, tx, plans, now)
        except Conflict:
            if guess and len(await ending()) < len(commits):
                raise LeaseNotHeld from None  # the lost lease answers first, as without guess
            raise
        if guess and len(await ending()) < len(commits):
            raise LeaseNotHeld
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
                raise Conflict(
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
            [
                Closed(p.run.run_id, *p.close, children=p.commit.children)
                for p in plans
                if p.close is not None
            ],
            now,
        )
        for p in plans:
            if p.closing is not None and p.close is None:
                await self._apply_closing(conn, tx, p.run, p.closing, now)
        seqs = {p.index: p.seqs for p in plans}
        return [seqs[i] if i in seqs else lease_lost(c.item) for i, c in enumerate(commits)]

    async def _append_plans(
        self, conn: AsyncConnection, tx: Tx, plans: Sequence[Plan], now: datetime
    ) -> None:
        """Append the events of ``plans`` and set their runs' new values, one statement
        for all of them, each guarded by the state its task read. Raises Conflict when a
        run moved on meanwhile."""
        if not plans:
            return
        by_run = {p.run.run_id: p for p in plans}
        rows = await self._update_plans(conn, plans, now)
        for row in rows:
            info = RunInfo(*row[1:])
            p = by_run[info.run_id]
            first = row.next_seq - len(p.specs)
            p.seqs, p.info = range(first, first + len(p.specs)), info
            tx.info[info.run_id] = info
            tx.events.extend(event_rows(info, first, p.specs, now))
        if len(rows) < len(plans):
            moved = next(p for p in plans if p.info is None)
            raise Conflict(
                moved.index,
                StaleTaskError(
                    f"run {moved.run.run_id} moved on while workflow task "
                    f"{moved.commit.item.id} ran"
                ),
            )

    async def _update_plans(
        self, conn: AsyncConnection, plans: Sequence[Plan], now: datetime
    ) -> Sequence[Any]:
        """Dialect hook: give each plan's run its new values and ``len(specs)`` more
        seqs, if it is still at the task count and state its task read; rows of the new
        next seq and the :class:`RunInfo` columns of the runs it updated."""
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
            # One statement shape whatever the batch size (see ``_among``). The
            # plain IN lets SQLite use the primary key (it scans for a row-value IN).
            guard = and_(
                self._among(runs.c.run_id, list(by_run), no_run),
                self._rows_among(
                    (runs.c.run_id, runs.c.workflow_task_count, runs.c.state),
                    [(p.run.run_id, p.commit.expected_task_count, p.run.state) for p in plans],
                    lambda i: (no_run(i), 0, ""),
                ),
            )
            counts = {r: len(p.specs) for r, p in by_run.items()}
            counted = grouped_case(runs.c.run_id, counts, else_=0, among=self._among)
            values = {"next_seq": runs.c.next_seq + counted}
            for name in sorted({name for p in plans for name in p.values}):
                column = runs.c[name]
                values[name] = grouped_case(
                    runs.c.run_id,
                    {r: p.values[name] for r, p in by_run.items() if name in p.values},
                    else_=column,
                    among=self._among,
                    type_=column.type,
                )
        stmt = update(runs).where(guard, runs.c.state.in_(ACTIVE)).values(updated_at=now, **values)
        return (await conn.execute(stmt.returning(runs.c.next_seq, *INFO_COLUMNS))).all()

    async def fail_workflow_task(
        self, item: ClaimedItem, failure: Failure, retry_in: float, *, dead: bool = False
    ) -> None:
        """Record a failed workflow task and put it back in the queue after ``retry_in`` seconds.

        ``dead``: give up on it instead (state ``dead``, a ``dead_lettered`` event, no
        retry queued); the run stays open, and its next inbound event (a signal, a
        cancellation) queues a workflow task again.
        """

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> None:
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
                                    "kind": WFT,
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
                    kind=WFT,
                    state=QueueItemState.QUEUED.value,
                    tenant_id=item.tenant_id,
                    task_queue=item.task_queue,
                    run_id=item.run_id,
                    workflow_id=item.workflow_id,
                    name=item.name,
                    payload=dict(item.payload),  # e.g. the updates it had to decide
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
        await self._run_tx(
            lambda conn, tx: self._end_item(conn, item, QueueItemState.COMPLETED, utcnow())
        )
