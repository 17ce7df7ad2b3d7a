"""``describe()`` shows what an open run waits on, on every executor: an activity failing
under unlimited retries shows its type, its attempt, its last failure and (between
attempts) when it runs next; a child that has not closed shows its id and type; a closed
run waits on nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from turnout.contracts.pending import PendingActivityState
from turnout.contracts.updates import WorkflowUpdateStage
from turnout.testing.contract.workflows_pending import (
    PENDING_ACTIVITIES,
    PENDING_WORKFLOWS,
    Broken,
    Gatekeeper,
    StuckOrder,
)
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


async def _described(handle: Any, ok: Any) -> Any:
    async with asyncio.timeout(30):
        while True:
            run = await handle.describe()
            if ok(run):
                return run
            await asyncio.sleep(0.1)


async def test_describe_shows_a_retrying_activity_and_an_open_child(
    executor: ExecutorHarness,
) -> None:
    client = executor.client
    queue = f"pending-{uuid.uuid4().hex[:8]}"
    workflow_id = f"pending-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=queue, workflows=PENDING_WORKFLOWS, activities=PENDING_ACTIVITIES
    ):
        handle = await client.start_workflow(
            StuckOrder.run, "o-7", id=workflow_id, task_queue=queue
        )
        run = await _described(
            handle,
            lambda r: r.pending_activities and r.pending_activities[0].attempt >= 3,
        )
        (pending,) = run.pending_activities
        assert pending.activity_type == "flaky_charge"
        assert pending.maximum_attempts == 0
        assert pending.last_failure is not None
        assert "card declined for o-7" in pending.last_failure.message
        assert pending.state in (PendingActivityState.SCHEDULED, PendingActivityState.STARTED)
        if pending.state is PendingActivityState.SCHEDULED:
            assert pending.next_attempt_schedule_time is not None
        (child,) = run.pending_children
        assert child.workflow_id == f"{workflow_id}-child"
        assert child.workflow_type == "Waiter"
        await handle.terminate(reason="enough")
    closed = await handle.describe()
    assert closed.pending_activities == []
    assert closed.pending_children == []


async def test_describe_shows_pending_signals_updates_and_a_failing_task(
    executor: ExecutorHarness,
) -> None:
    client = executor.client
    queue = f"pending-{uuid.uuid4().hex[:8]}"
    waiting = await client.start_workflow(
        Gatekeeper.run, id=f"pending-gate-{uuid.uuid4().hex[:8]}", task_queue=queue
    )
    # No worker yet: the signal waits for the run's first workflow task.
    await waiting.signal("nudge")
    early = await waiting.describe()
    assert [s.name for s in early.pending_signals] == ["nudge"]
    broken = await client.start_workflow(
        Broken.run, id=f"pending-broken-{uuid.uuid4().hex[:8]}", task_queue=queue
    )
    async with Worker(client, task_queue=queue, workflows=PENDING_WORKFLOWS):
        update = await waiting.start_update(
            Gatekeeper.hold, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        held = await _described(waiting, lambda r: r.pending_updates)
        assert [(u.update_id, u.name) for u in held.pending_updates] == [(update.id, "hold")]
        assert held.pending_signals == []
        failing = await _described(broken, lambda r: r.stuck_reason)
        assert failing.stuck_reason.startswith("its workflow task keeps failing")
        assert "the ledger is missing" in failing.stuck_reason
        await waiting.signal(Gatekeeper.open)
        assert await update.result() == "passed"
        assert await waiting.result() == "open"
        await broken.terminate(reason="broken")
