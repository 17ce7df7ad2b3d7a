"""Conformance: claiming and committing, failing and abandoning workflow tasks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.store.conftest import QUEUE, claim_task, item_state, items_of, run_state, start, types
from turnout.contracts.errors import Failure
from turnout.contracts.records import QueueItemState
from turnout.contracts.states import RunState
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.store import (
    ClaimedItem,
    ClaimParams,
    EagerClaim,
    SignalParams,
    StaleTaskError,
    Store,
    WorkflowTaskCommit,
)
from turnout.executors.internal.store.base import utcnow


def schedule(seq: int = 1, activity_type: str = "act") -> cmd.ScheduleActivity:
    return cmd.ScheduleActivity(
        seq=seq,
        activity_id=str(seq),
        activity_type=activity_type,
        args=[],
        task_queue=QUEUE,
        start_to_close_timeout=30.0,
        schedule_to_close_timeout=None,
        heartbeat_timeout=None,
        retry_policy={},
    )


async def task_commit(
    store: Store, item: ClaimedItem, commands: list[Any], **extra: Any
) -> WorkflowTaskCommit:
    """The commit of ``item`` with ``commands``, as a worker that read its history makes it."""
    snapshot, history = await store.load_history(item.run_id, 0)
    return WorkflowTaskCommit(
        item,
        expected_task_count=snapshot.workflow_task_count,
        processed_through=history[-1].seq,
        time=utcnow(),
        commands=commands,
        run=snapshot,
        **{"seen_through": history[-1].seq, **extra},
    )


async def commit(store: Store, item: ClaimedItem, commands: list[Any], **extra: Any) -> range:
    return await store.commit_workflow_task(await task_commit(store, item, commands, **extra))


async def test_claim_leases_a_task_and_marks_the_run_claimed(store: Store) -> None:
    run_id = await start(store)
    item = await claim_task(store, "w1")
    assert (item.run_id, item.kind, item.lease_owner, item.attempt) == (
        run_id,
        "workflow_task",
        "w1",
        1,
    )
    assert item.lease_expires_at > utcnow() + timedelta(seconds=20)
    assert await item_state(store, item.id) == QueueItemState.RUNNING.value
    assert await run_state(store, run_id) is RunState.CLAIMED
    assert await types(store, run_id) == ["workflow_started", "state_changed"]
    # Never twice, and nothing for zero slots.
    assert (
        await store.claim(
            ClaimParams(QUEUE, "w2", workflow_tasks=1, activities=1, workflow_lease=30)
        )
        == []
    )
    assert (
        await store.claim(
            ClaimParams(QUEUE, "w2", workflow_tasks=0, activities=0, workflow_lease=30)
        )
        == []
    )


async def test_one_workflow_task_of_a_run_at_a_time(store: Store) -> None:
    run_id = await start(store)
    await claim_task(store)
    await store.signal(SignalParams("default", run_id, "poke", []))
    assert (
        await store.claim(
            ClaimParams(QUEUE, "w2", workflow_tasks=5, activities=0, workflow_lease=30)
        )
        == []
    )


async def test_commit_appends_events_schedules_and_counts_the_task(store: Store) -> None:
    run_id = await start(store)
    item = await claim_task(store)
    seqs = await commit(store, item, [schedule()])
    assert list(seqs) == [3, 4, 5]
    assert await types(store, run_id, 2) == [
        "workflow_task_completed",
        "activity_scheduled",
        "state_changed",
    ]
    snapshot, _ = await store.load_history(run_id, 0)
    assert (snapshot.state, snapshot.workflow_task_count) == (RunState.RUNNING.value, 1)
    task, act = await items_of(store, run_id)
    assert (task.state, act.kind, act.state) == ("completed", "activity_task", "queued")


async def test_commit_with_eager_leases_the_activities_to_the_worker(store: Store) -> None:
    run_id = await start(store)
    item = await claim_task(store)
    eager = EagerClaim(owner="w1", task_queue=QUEUE, names=frozenset({"act"}), limit=5)
    await commit(store, item, [schedule(1), schedule(2, "other")], eager=eager)
    assert [(c.name, c.lease_owner) for c in eager.claimed] == [("act", "w1")]
    assert (await types(store, run_id)).count("activity_started") == 1
    states = sorted(i.state for i in await items_of(store, run_id) if i.kind == "activity_task")
    assert states == ["queued", "running"]


async def test_commit_closing_the_run_completes_it(store: Store) -> None:
    run_id = await start(store)
    item = await claim_task(store)
    await commit(store, item, [cmd.CompleteWorkflow(result={"ok": True})])
    run = await store.find_run("default", "wf")
    assert (run.state, run.result) == (RunState.COMPLETED, {"ok": True})
    assert (await types(store, run_id))[-2:] == ["workflow_completed", "state_changed"]


async def test_a_stale_commit_changes_nothing(store: Store) -> None:
    run_id = await start(store)
    item = await claim_task(store)
    snapshot, history = await store.load_history(run_id, 0)
    with pytest.raises(StaleTaskError):
        await store.commit_workflow_task(
            WorkflowTaskCommit(
                item,
                expected_task_count=snapshot.workflow_task_count + 1,
                processed_through=history[-1].seq,
                time=utcnow(),
                commands=[cmd.CompleteWorkflow(result=None)],
            )
        )
    assert await run_state(store, run_id) is RunState.CLAIMED
    assert await item_state(store, item.id) == QueueItemState.RUNNING.value
    lost = ClaimedItem(**{**item.__dict__, "lease_owner": "someone-else"})
    with pytest.raises(StaleTaskError):
        await commit(store, lost, [])
    assert await types(store, run_id) == ["workflow_started", "state_changed"]


async def test_commit_workflow_tasks_refuses_each_on_its_own(store: Store) -> None:
    await start(store, "c1")
    await start(store, "c2")
    items = await store.claim(
        ClaimParams(QUEUE, "w1", workflow_tasks=2, activities=0, workflow_lease=30)
    )
    commits = []
    for n, item in enumerate(items):
        snapshot, history = await store.load_history(item.run_id, 0)
        commits.append(
            WorkflowTaskCommit(
                item,
                expected_task_count=snapshot.workflow_task_count + n,  # the second is stale
                processed_through=history[-1].seq,
                time=utcnow(),
                commands=[],
                run=snapshot,
            )
        )
    first, second = await store.commit_workflow_tasks(commits)
    assert isinstance(first, range)
    assert isinstance(second, StaleTaskError)
    assert await item_state(store, items[1].id) == QueueItemState.RUNNING.value


async def test_fail_workflow_task_queues_the_next_attempt(store: Store) -> None:
    run_id = await start(store)
    item = await claim_task(store)
    await store.fail_workflow_task(item, Failure(kind="application", message="boom"), 0)
    assert (await types(store, run_id))[-1] == "workflow_task_failed"
    failed, retry = await items_of(store, run_id)
    assert (failed.state, retry.state, retry.attempt) == ("failed", "queued", 2)


async def test_fail_workflow_task_dead_letters_it(store: Store) -> None:
    run_id = await start(store)
    item = await claim_task(store)
    await store.fail_workflow_task(item, Failure(kind="application", message="boom"), 0, dead=True)
    assert (await types(store, run_id))[-2:] == ["workflow_task_failed", "dead_lettered"]
    assert [i.state for i in await items_of(store, run_id)] == ["dead"]
    assert await run_state(store, run_id) is RunState.CLAIMED  # the run stays open


async def test_abandon_workflow_task_ends_it(store: Store) -> None:
    run_id = await start(store)
    item = await claim_task(store)
    await store.abandon_workflow_task(item)
    assert await item_state(store, item.id) == QueueItemState.COMPLETED.value
    assert await types(store, run_id) == ["workflow_started", "state_changed"]
