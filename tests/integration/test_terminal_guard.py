"""A run in a terminal state never leaves it: the guard is in the SQL, on both dialects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

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
