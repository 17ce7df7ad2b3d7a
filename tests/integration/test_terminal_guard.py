"""Guards of the internal store, both dialects: terminal states stay final; bad input is refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

import turnout
from tests import workflows_for_tests as wf
from turnout.contracts.states import RunState, sources_of
from turnout.executors.internal.schema import runs
from turnout.executors.internal.store import (
    ClaimParams,
    SignalParams,
    StartParams,
    WorkflowTaskCommit,
)


async def test_update_out_of_a_terminal_state_changes_zero_rows(client: Any) -> None:
    store = client.store
    started = await store.start_workflow(
        StartParams(workflow_id="guard-1", workflow_type="Any", task_queue="none", input=[])
    )
    assert await store.terminate("default", started.run_id, "end")
    for target in (RunState.RUNNING, RunState.COMPLETED, RunState.QUEUED):
        sources = [s.value for s in sources_of(target)]
        async with store.engine.begin() as conn:
            result = await conn.execute(
                update(runs)
                .where(runs.c.run_id == started.run_id, runs.c.state.in_(sources))
                .values(state=target.value)
            )
        assert result.rowcount == 0
    # Stragglers through the store API change nothing either.
    assert not await store.terminate("default", started.run_id, "again")
    assert not await store.signal(SignalParams("default", started.run_id, "late", []))
    assert not await store.request_cancel("default", started.run_id)
    run = await store.find_run("default", "guard-1")
    assert run.state is RunState.TERMINATED


async def test_workflow_retry_policy_is_refused_and_nothing_is_started(client: Any) -> None:
    with pytest.raises(turnout.ConfigurationError, match="retry_policy"):
        await client.start_workflow(
            wf.HelloWorkflow.run,
            "x",
            id="refused",
            task_queue="q",
            retry_policy=turnout.RetryPolicy(),
        )
    assert await client.list_workflows() == []


async def test_a_run_never_closes_over_a_signal_its_task_has_not_seen(client: Any) -> None:
    from turnout.executors.internal.commands import CompleteWorkflow
    from turnout.executors.internal.store import UnhandledSignalError

    store = client.store
    started = await store.start_workflow(
        StartParams(workflow_id="late-signal", workflow_type="Any", task_queue="manual", input=[])
    )
    (item,) = await store.claim(
        ClaimParams("manual", "tester", workflow_tasks=1, activities=0, workflow_lease=30)
    )
    _, history = await store.load_history(started.run_id, 0)
    seen = history[-1].seq
    assert await store.signal(
        SignalParams("default", started.run_id, "late", [])
    )  # arrives while the task runs
    with pytest.raises(UnhandledSignalError):
        await store.commit_workflow_task(
            WorkflowTaskCommit(
                item,
                expected_task_count=0,
                processed_through=seen,
                time=history[-1].at,
                commands=[CompleteWorkflow(result="done")],
                seen_through=seen,
            )
        )
    run = await store.find_run("default", "late-signal")
    assert run.state is not RunState.COMPLETED  # nothing was applied
    assert [e.type.value for e in await store.events("default", started.run_id)][-1] == (
        "signal_received"
    )


async def test_an_activity_cancelled_in_the_task_that_scheduled_it_never_runs(
    client: Any,
) -> None:
    from sqlalchemy import select

    from turnout.executors.internal.schema import queue_items

    async with turnout.Worker(
        client,
        task_queue="same-task",
        workflows=[wf.StartThenCancelWorkflow],
        activities=[wf.greet],
    ):
        name = "never-" + started_suffix()
        result = await client.execute_workflow(
            wf.StartThenCancelWorkflow.run, name, id=name, task_queue="same-task"
        )
    assert result == "canceled before it ran"
    async with client.store.engine.connect() as conn:
        states = (
            (
                await conn.execute(
                    select(queue_items.c.state).where(queue_items.c.kind == "activity_task")
                )
            )
            .scalars()
            .all()
        )
    assert states == ["canceled"]
    assert wf.CALLS[f"greet:{name}"] == 0


def started_suffix() -> str:
    import uuid

    return uuid.uuid4().hex[:8]


async def test_results_written_together_are_each_recorded_once_and_a_lost_lease_alone_refused(
    client: Any,
) -> None:
    import dataclasses

    from turnout.contracts.events import EventType
    from turnout.executors.internal.commands import ScheduleActivity
    from turnout.executors.internal.store import EagerClaim

    store, queue = client.store, "manual-batch"
    run_ids = []
    for n in range(3):
        started = await store.start_workflow(
            StartParams(workflow_id=f"batch-{n}", workflow_type="Any", task_queue=queue, input=[])
        )
        run_ids.append(started.run_id)
    tasks = await store.claim(
        ClaimParams(queue, "tester", workflow_tasks=3, activities=0, workflow_lease=30)
    )
    for task in tasks:
        _, history = await store.load_history(task.run_id, 0)
        schedule = ScheduleActivity(
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
        await store.commit_workflow_task(
            WorkflowTaskCommit(
                task,
                expected_task_count=0,
                processed_through=history[-1].seq,
                time=history[-1].at,
                commands=[schedule],
                seen_through=history[-1].seq,
            )
        )
    acts = await store.claim(
        ClaimParams(queue, "tester", workflow_tasks=0, activities=3, workflow_lease=30)
    )
    assert sorted(a.run_id for a in acts) == sorted(run_ids)
    first, second, third = sorted(acts, key=lambda a: run_ids.index(a.run_id))
    lost = dataclasses.replace(second, attempt=second.attempt + 1)  # not this attempt's lease
    eager = EagerClaim(owner="tester", task_queue=queue, names=frozenset({"Any"}), limit=1)

    recorded = await store.complete_activities(
        [(first, "one"), (lost, "two"), (third, "three")], eager=eager
    )

    assert recorded == [True, False, True]
    for item, result in ((first, "one"), (third, "three")):
        completed = [
            e
            for e in await store.events("default", item.run_id)
            if e.type is EventType.ACTIVITY_COMPLETED
        ]
        assert [e.attributes["result"] for e in completed] == [result]
    assert not any(
        e.type is EventType.ACTIVITY_COMPLETED for e in await store.events("default", second.run_id)
    )
    # One woken workflow task was claimed in the same transaction (the slot limit), the
    # other stays queued for any worker.
    assert len(eager.claimed) == 1
    assert eager.claimed[0].run_id in {first.run_id, third.run_id}
    rest = await store.claim(
        ClaimParams(queue, "other", workflow_tasks=5, activities=0, workflow_lease=30)
    )
    assert {t.run_id for t in rest} == {first.run_id, third.run_id} - {eager.claimed[0].run_id}
    # Written again, the same results change nothing.
    assert await store.complete_activities([(first, "one"), (third, "three")]) == [False, False]


async def test_starts_made_together_keep_the_id_policies_of_starts_made_one_by_one(
    client: Any,
) -> None:
    import asyncio

    from turnout.contracts.records import IdConflictPolicy

    def start(workflow_id: str, **policy: Any) -> Any:
        return client.start_workflow(
            wf.HelloWorkflow.run, "x", id=workflow_id, task_queue="nobody", **policy
        )

    outcomes = await asyncio.gather(
        *(start(f"together-{n}") for n in range(10)),
        start("twice"),
        start("twice"),
        start("shared", id_conflict_policy=IdConflictPolicy.USE_EXISTING),
        start("shared", id_conflict_policy=IdConflictPolicy.USE_EXISTING),
        return_exceptions=True,
    )
    distinct, twice, shared = outcomes[:10], outcomes[10:12], outcomes[12:]
    assert len({h.result_run_id for h in distinct}) == 10
    refused = [o for o in twice if isinstance(o, turnout.WorkflowAlreadyStartedError)]
    assert len(refused) == 1  # the first start of the id won, the second was refused
    assert shared[0].result_run_id == shared[1].result_run_id  # one run, used by both
    listed = await client.list_workflows()
    assert sorted(r.workflow_id for r in listed) == sorted(
        [f"together-{n}" for n in range(10)] + ["twice", "shared"]
    )
    for run in listed:
        events = await client.get_workflow_handle(run.workflow_id).events()
        assert [e.type.value for e in events] == ["workflow_started"]


async def test_finished_queue_items_are_pruned_after_the_retention_and_dead_letters_stay(
    client: Any,
) -> None:
    import asyncio
    from datetime import timedelta

    from sqlalchemy import func, insert, select

    from turnout.executors.internal.schema import queue_items
    from turnout.executors.internal.store.base import utcnow

    store, now = client.store, utcnow()
    old, recent = now - timedelta(hours=2), now - timedelta(minutes=5)
    rows = [
        {
            "kind": "activity_task",
            "state": state,
            "tenant_id": "default",
            "task_queue": "prune",
            "run_id": f"run-{n}",
            "workflow_id": f"wf-{n}",
            "name": "act",
            "payload": {},
            "attempt": 1,
            "priority": 0,
            "available_at": at,
            "created_at": at,
            "updated_at": at,
        }
        for n, (state, at) in enumerate(
            [
                ("completed", old),
                ("canceled", old),
                ("failed", old),
                ("dead", old),
                ("queued", old),
                ("completed", recent),
            ]
        )
    ]
    async with store.engine.begin() as conn:
        await conn.execute(insert(queue_items), rows)

    assert await store.prune_finished(now - timedelta(hours=1)) == 3

    async with store.engine.connect() as conn:
        left = (
            await conn.execute(
                select(queue_items.c.state).where(queue_items.c.task_queue == "prune")
            )
        ).scalars()
        assert sorted(left) == ["completed", "dead", "queued"]

    # A worker prunes on its own: with no retention, the finished items of a completed
    # run go at its reaper's first pass.
    queue = "prune-worker"
    hello = {"workflows": [wf.HelloWorkflow], "activities": [wf.greet, wf.shout]}
    async with turnout.Worker(client, task_queue=queue, **hello):
        await client.execute_workflow(wf.HelloWorkflow.run, "x", id="pruned", task_queue=queue)

    def count() -> Any:
        return select(func.count()).where(queue_items.c.task_queue == queue)

    async with store.engine.connect() as conn:
        assert (await conn.execute(count())).scalar_one() > 0
    async with turnout.Worker(
        client,
        task_queue=queue,
        **hello,
        reaper_interval=timedelta(milliseconds=20),
        finished_item_retention=timedelta(0),
    ):
        async with asyncio.timeout(20):
            while True:
                async with store.engine.connect() as conn:
                    if (await conn.execute(count())).scalar_one() == 0:
                        break
                await asyncio.sleep(0.02)
    assert (await client.get_workflow_handle("pruned").describe()).state is RunState.COMPLETED


async def test_events_that_arrive_after_a_task_read_the_history_get_a_task_of_their_own(
    client: Any,
) -> None:
    """The task queued for new events may be claimed, and read the history, before the
    transaction that appended them commits (it found that task still queued and so
    queued no other). The task's commit sees the events arrived and queues the next."""
    from turnout.contracts.events import EventType
    from turnout.executors.internal.store.base import utcnow

    store, queue = client.store, "arrivals"
    started = await store.start_workflow(
        StartParams(workflow_id="arrivals", workflow_type="Any", task_queue=queue, input=[])
    )
    (task,) = await store.claim(
        ClaimParams(queue, "b", workflow_tasks=1, activities=0, workflow_lease=30)
    )
    _, history = await store.load_history(started.run_id, 0)
    seen = history[-1].seq

    async def late_event(conn: Any, tx: Any) -> Any:  # appended, its task not queued
        return await store._append(
            conn, started.run_id, [(EventType.TIMER_FIRED, {"timer_seq": 9})], now=utcnow(), tx=tx
        )

    await store._run_tx(late_event)
    await store.commit_workflow_task(
        WorkflowTaskCommit(
            task,
            expected_task_count=0,
            processed_through=seen,
            time=history[-1].at,
            commands=[],
            seen_through=seen,
        )
    )

    (follow_up,) = await store.claim(
        ClaimParams(queue, "c", workflow_tasks=5, activities=0, workflow_lease=30)
    )
    assert follow_up.run_id == started.run_id
    _, rest = await store.load_history(started.run_id, seen)
    assert EventType.TIMER_FIRED in [e.type for e in rest]
