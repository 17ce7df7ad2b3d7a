"""Changing code under a running workflow: a visible failure; ``patched`` makes it safe."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

import turnout
from tests import workflows_for_tests as wf
from turnout import EventType, RunState

ACTIVITIES = [wf.greet, wf.shout]


@pytest.fixture
def client(executor_client: Any) -> Any:
    """On both executors: Temporal records the same failure and honours the same patch."""
    return executor_client


async def _until(predicate: Any, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.02)


async def _has(handle: Any, event_type: EventType) -> bool:
    return any(e.type is event_type for e in await handle.events())


async def _waiting_for_signal(handle: Any) -> bool:
    events = await handle.events()
    completed = [e for e in events if e.type is EventType.ACTIVITY_COMPLETED]
    return bool(completed) and events[-1].type is EventType.WORKFLOW_TASK_COMPLETED


async def test_incompatible_change_fails_the_task_visibly_and_patched_recovers(client: Any) -> None:
    queue = f"det-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        wf.DeterminismWorkflow.run, id=f"det-{uuid.uuid4().hex[:8]}", task_queue=queue
    )
    async with turnout.Worker(
        client, task_queue=queue, workflows=[wf.DeterminismWorkflow], activities=ACTIVITIES
    ):
        await _until(lambda: _waiting_for_signal(handle))
    history_before = await handle.events()

    # A deploy with a careless change: replay no longer matches the history.
    async with turnout.Worker(
        client, task_queue=queue, workflows=[wf.DeterminismWorkflowChanged], activities=ACTIVITIES
    ):
        await handle.signal("proceed")
        await _until(lambda: _has(handle, EventType.WORKFLOW_TASK_FAILED))
    failed = [e for e in await handle.events() if e.type is EventType.WORKFLOW_TASK_FAILED]
    failure = failed[0].attributes["failure"]
    assert failure["type"] == "NonDeterminismError"
    # The message names what history recorded and what the code does now.
    assert "greet" in failure["message"]
    assert "shout" in failure["message"]
    if client.executor == "internal":
        assert "workflow.patched()" in failure["message"]
    run = await handle.describe()
    assert run.state is RunState.RUNNING  # the run is not corrupted, only the task failed
    after = await handle.events()
    assert after[: len(history_before)] == history_before  # nothing recorded was rewritten
    assert not any(e.type is EventType.WORKFLOW_COMPLETED for e in after)

    # The fix: the same change behind workflow.patched(); the old run replays the old path.
    async with turnout.Worker(
        client, task_queue=queue, workflows=[wf.DeterminismWorkflowPatched], activities=ACTIVITIES
    ):
        assert await handle.result(timeout=timedelta(seconds=30)) == "Hello, two!"
    types = [e.type for e in await handle.events()]
    assert EventType.MARKER_RECORDED not in types  # the old run took the old code path
    assert types.count(EventType.ACTIVITY_SCHEDULED) == 2


async def test_patched_is_true_for_new_runs(client: Any) -> None:
    queue = f"det-{uuid.uuid4().hex[:8]}"
    async with turnout.Worker(
        client, task_queue=queue, workflows=[wf.DeterminismWorkflowPatched], activities=ACTIVITIES
    ):
        handle = await client.start_workflow(
            wf.DeterminismWorkflowPatched.run, id=f"det-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        await handle.signal("proceed")
        assert await handle.result(timeout=timedelta(seconds=30)) == "Hello, two!"
    events = await handle.events()
    markers = [e.attributes["patch_id"] for e in events if e.type is EventType.MARKER_RECORDED]
    assert markers == ["add-shout"]
    scheduled = [
        e.attributes["activity_type"] for e in events if e.type is EventType.ACTIVITY_SCHEDULED
    ]
    assert scheduled == ["shout", "greet", "greet"]
