"""Guards of the internal store, both dialects: terminal states stay final; bad input is refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

import turnout
from tests import workflows_for_tests as wf
from turnout.contracts.states import RunState, sources_of
from turnout.executors.internal.schema import runs
from turnout.executors.internal.store import StartParams


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
    assert not await store.signal("default", started.run_id, "late", [])
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
        "manual", "tester", workflow_tasks=1, activities=0, workflow_lease=30
    )
    _, history = await store.load_history(started.run_id, 0)
    seen = history[-1].seq
    assert await store.signal("default", started.run_id, "late", [])  # arrives while the task runs
    with pytest.raises(UnhandledSignalError):
        await store.commit_workflow_task(
            item,
            expected_task_count=0,
            processed_through=seen,
            time=history[-1].at,
            commands=[CompleteWorkflow(result="done")],
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
