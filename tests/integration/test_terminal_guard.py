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
    assert await store.terminate(started.run_id, "end")
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
    assert not await store.terminate(started.run_id, "again")
    assert not await store.signal(started.run_id, "late", [])
    assert not await store.request_cancel(started.run_id)
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
