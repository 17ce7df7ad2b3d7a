"""Workflow tasks that finish together are read and committed together, both dialects:
one transaction for the batch, and each task still holds or is refused on its own."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

import turnout
from tests import workflows_for_tests as wf
from turnout.contracts.events import EventType
from turnout.contracts.records import QueueItemState
from turnout.contracts.states import RunState
from turnout.executors.internal.batch import GroupCommit
from turnout.executors.internal.commands import CompleteWorkflow, ScheduleActivity
from turnout.executors.internal.schema import queue_items
from turnout.executors.internal.store import (
    ClaimedItem,
    ClaimParams,
    EagerClaim,
    SignalParams,
    StaleTaskError,
    StartParams,
    Store,
    UnhandledSignalError,
    WorkflowTaskCommit,
)
from turnout.executors.internal.store.core import no_run, padded


async def _claimed_runs(store: Store, queue: str, n: int) -> list[ClaimedItem]:
    """``n`` started runs, their first workflow tasks claimed, in start order."""
    run_ids = []
    for i in range(n):
        started = await store.start_workflow(
            StartParams(workflow_id=f"{queue}-{i}", workflow_type="Any", task_queue=queue, input=[])
        )
        run_ids.append(started.run_id)
    tasks = await store.claim(
        ClaimParams(queue, "tester", workflow_tasks=n, activities=0, workflow_lease=30)
    )
    assert len(tasks) == n
    return sorted(tasks, key=lambda t: run_ids.index(t.run_id))


def _schedule(queue: str) -> ScheduleActivity:
    return ScheduleActivity(
        seq=1,
        activity_id="1",
        activity_type="act",
        args=[],
        task_queue=queue,
        start_to_close_timeout=30.0,
        schedule_to_close_timeout=None,
        heartbeat_timeout=None,
        retry_policy={},
    )


async def _commit(store: Store, task: ClaimedItem, commands: list[Any], **extra: Any) -> Any:
    """A commit of ``task``'s first workflow task, as a worker makes it."""
    ((row, history),) = await store.load_histories([(task.run_id, 0)])
    return WorkflowTaskCommit(
        task,
        expected_task_count=0,
        processed_through=history[-1].seq,
        time=history[-1].at,
        commands=commands,
        seen_through=history[-1].seq,
        run=row,
        **extra,
    )


async def test_histories_are_read_together_each_from_its_own_seq(client: Any) -> None:
    store = client.store
    first, second = await _claimed_runs(store, "reads", 2)
    await store.signal(SignalParams("default", second.run_id, "poke", ["x"]))

    loaded = await store.load_histories([(first.run_id, 0), (second.run_id, 2), ("no-such-run", 0)])

    (row1, history1), (row2, history2), missing = loaded
    assert (row1.run_id, row2.run_id) == (first.run_id, second.run_id)
    assert [e.type for e in history1] == [EventType.WORKFLOW_STARTED, EventType.STATE_CHANGED]
    assert [(e.seq, e.type) for e in history2] == [(3, EventType.SIGNAL_RECEIVED)]
    assert isinstance(missing, LookupError)
    assert "no-such-run" in str(missing)


async def test_tasks_committed_together_share_one_transaction(client: Any) -> None:
    store, queue = client.store, "together"
    tasks = await _claimed_runs(store, queue, 3)
    eager = EagerClaim(owner="tester", task_queue=queue, names=frozenset({"act"}), limit=1)
    commits = [
        await _commit(store, tasks[0], [_schedule(queue)], eager=eager),
        await _commit(store, tasks[1], [CompleteWorkflow(result="one")]),
        await _commit(store, tasks[2], [CompleteWorkflow(result={"two": 2})]),
    ]

    outcomes = await store.commit_workflow_tasks(commits)

    assert all(isinstance(o, range) for o in outcomes), outcomes
    completed_at = set()
    for task in tasks:
        history = await store.events("default", task.run_id)
        (done,) = [e for e in history if e.type is EventType.WORKFLOW_TASK_COMPLETED]
        completed_at.add(done.at)
    assert len(completed_at) == 1  # one transaction's clock
    one = await store.find_run("default", f"{queue}-1")
    two = await store.find_run("default", f"{queue}-2")
    assert (one.state, one.result) == (RunState.COMPLETED, "one")
    assert (two.state, two.result) == (RunState.COMPLETED, {"two": 2})
    scheduler = await store.find_run("default", f"{queue}-0")
    assert scheduler.state is RunState.RUNNING
    (taken,) = eager.claimed
    assert (taken.run_id, taken.name, taken.lease_owner) == (tasks[0].run_id, "act", "tester")
    assert taken.kind == "activity_task"


async def test_a_task_refused_in_a_batch_changes_nothing_and_the_others_commit(
    client: Any,
) -> None:
    store, queue = client.store, "refusals"
    lost_lease, moved_on, unseen_signal, fine = await _claimed_runs(store, queue, 4)
    commits = [
        await _commit(store, t, [CompleteWorkflow(result="done")])
        for t in (lost_lease, moved_on, unseen_signal, fine)
    ]
    # Not this attempt's lease any more; the run terminated meanwhile; a signal the task
    # never read arrived before it decided to close the run.
    commits[0] = dataclasses.replace(
        commits[0], item=dataclasses.replace(lost_lease, attempt=lost_lease.attempt + 1)
    )
    assert await store.terminate("default", moved_on.run_id, "stop")
    assert await store.signal(SignalParams("default", unseen_signal.run_id, "late", []))

    outcomes = await store.commit_workflow_tasks(commits)

    assert isinstance(outcomes[0], StaleTaskError)
    assert isinstance(outcomes[1], StaleTaskError)
    assert isinstance(outcomes[2], UnhandledSignalError)
    assert isinstance(outcomes[3], range)
    states = {
        t.run_id: (await store.find_run("default", t.workflow_id)).state
        for t in (lost_lease, moved_on, unseen_signal, fine)
    }
    assert states == {
        lost_lease.run_id: RunState.CLAIMED,
        moved_on.run_id: RunState.TERMINATED,
        unseen_signal.run_id: RunState.CLAIMED,
        fine.run_id: RunState.COMPLETED,
    }
    for refused in (lost_lease, moved_on, unseen_signal):
        history = await store.events("default", refused.run_id)
        assert EventType.WORKFLOW_TASK_COMPLETED not in [e.type for e in history]
    # The refused task whose lease this worker still holds stays its to fail or redo.
    async with store.engine.connect() as conn:
        (held,) = (
            await conn.execute(
                select(queue_items.c.state, queue_items.c.lease_owner).where(
                    queue_items.c.id == unseen_signal.id
                )
            )
        ).all()
    assert tuple(held) == (QueueItemState.RUNNING.value, "tester")


async def test_a_worker_running_many_tasks_at_once_completes_every_run(client: Any) -> None:
    async with turnout.Worker(
        client,
        task_queue="many-at-once",
        workflows=[wf.HelloWorkflow],
        activities=[wf.greet, wf.shout],
        max_concurrent_workflow_tasks=20,
    ):
        handles = [
            await client.start_workflow(
                wf.HelloWorkflow.run, f"n{i}", id=f"many-{i}", task_queue="many-at-once"
            )
            for i in range(40)
        ]
        results = [await h.result() for h in handles]
    assert results == [f"HELLO, N{i}!" for i in range(40)]


def test_batches_are_padded_to_powers_of_two() -> None:
    assert padded([], no_run) == []
    assert padded(["a"], no_run) == ["a"]
    assert padded(["a", "b", "c"], no_run) == ["a", "b", "c", "-3"]
    assert len(padded(list(range(17)), lambda i: -i)) == 32
    assert len(padded(list(range(32)), lambda i: -i)) == 32


async def test_batched_reads_of_any_size_come_in_a_few_statement_shapes(client: Any) -> None:
    """SQLAlchemy and the driver keep every statement shape they compile: one per batch
    size would fill their caches (memory) and compile anew for each new size (CPU)."""
    store = client.store
    tasks = await _claimed_runs(store, "shapes", 33)
    seen: set[str] = set()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("SELECT"):  # not SQLite's BEGIN
            seen.add(statement)

    event.listen(store.reader.sync_engine, "before_cursor_execute", record)
    try:
        for size in range(1, 34):
            loaded = await store.load_histories([(t.run_id, 0) for t in tasks[:size]])
            assert [row.run_id for row, _ in loaded] == [t.run_id for t in tasks[:size]]  # type: ignore[union-attr]
    finally:
        event.remove(store.reader.sync_engine, "before_cursor_execute", record)
    # Sizes 1, 2, 4, ..., 64: seven shapes of each of the two reads.
    assert len(seen) <= 14, len(seen)


async def test_batched_writes_on_sqlite_find_their_rows_by_key_never_by_scanning(
    sqlite_url: str,
) -> None:
    """SQLite answers a row-value ``IN`` by scanning the table: every batched statement
    also names its rows in a plain ``IN`` it can look up by index."""
    client = await turnout.connect(executor="internal", database_url=sqlite_url)
    store, seen = client.store, {}

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().startswith(("SELECT", "UPDATE", "WITH")):
            seen[statement] = parameters

    for engine in (store.engine, store.reader):
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        await store.start_workflows(
            [
                StartParams(
                    workflow_id=f"scan-{i}", workflow_type="Any", task_queue="scan", input=[]
                )
                for i in range(3)
            ]
        )
        tasks = await store.claim(
            ClaimParams("scan", "me", workflow_tasks=3, activities=0, workflow_lease=30)
        )
        commits = [
            await _commit(store, t, [CompleteWorkflow(result=i)]) for i, t in enumerate(tasks)
        ]
        assert all(isinstance(o, range) for o in await store.commit_workflow_tasks(commits))
    finally:
        await client.close()
    scans = []
    with sqlite3.connect(sqlite_url.split("///", 1)[1]) as db:
        for statement, parameters in seen.items():
            plan = db.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            scans += [(statement, row[-1]) for row in plan if "SCAN turnout_" in row[-1]]
    assert scans == []


async def test_a_database_out_of_reach_fails_the_batch_once_not_once_per_commit(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = client.store
    tasks = await _claimed_runs(store, "outage", 3)
    commits = [await _commit(store, t, [CompleteWorkflow(result="x")]) for t in tasks]
    attempts = []

    async def unreachable(fn: Any, *args: Any) -> Any:
        attempts.append(len(args[0]))
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("down"))

    monkeypatch.setattr(store, "_run_tx", unreachable)
    with pytest.raises(OperationalError):
        await store.commit_workflow_tasks(commits)
    assert attempts == [3]  # every caller hears it at once; the worker retries them later


async def test_a_write_whose_caller_gave_up_before_its_batch_began_is_dropped() -> None:
    written: list[list[str]] = []
    gate = asyncio.Event()

    async def write(items: list[str]) -> list[str]:
        written.append(items)
        await gate.wait()
        return [item.upper() for item in items]

    group: GroupCommit[str, str] = GroupCommit(write)
    first = asyncio.create_task(group.submit("a"))
    await asyncio.sleep(0)  # "a" is being written
    gave_up = asyncio.create_task(group.submit("b"))
    kept = asyncio.create_task(group.submit("c"))
    await asyncio.sleep(0)
    gave_up.cancel()
    gate.set()
    assert await first == "A"
    assert await kept == "C"
    assert written == [["a"], ["c"]]
