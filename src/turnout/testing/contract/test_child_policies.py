"""A child's parent close policy and id reuse policy behave as on Temporal on every
executor: a child still open when its parent closes is terminated (the default), asked to
cancel, or left running; a child id taken before is refused under REJECT_DUPLICATE."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from turnout import EventType, RunState, WorkflowNotFoundError
from turnout.testing.contract.workflows_children import (
    CHILD_WORKFLOWS,
    LeavingParent,
    ReusingParent,
    StoppingChild,
    WaitingParent,
)
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


async def _settled(handle: object, states: set[RunState]) -> RunState:
    async with asyncio.timeout(20):
        while True:
            state = (await handle.describe()).state  # type: ignore[attr-defined]
            if state in states:
                return state
            await asyncio.sleep(0.05)


async def _ran_first_task(handle: object) -> bool:
    try:
        events = await handle.events()  # type: ignore[attr-defined]
    except WorkflowNotFoundError:  # not started yet
        return False
    return any(e.type is EventType.WORKFLOW_TASK_COMPLETED for e in events)


@pytest.mark.parametrize(
    ("policy", "child_state"),
    [
        ("terminate", RunState.TERMINATED),
        ("request_cancel", RunState.COMPLETED),
        ("abandon", RunState.RUNNING),
    ],
)
async def test_the_parent_close_policy(
    executor: ExecutorHarness, policy: str, child_state: RunState
) -> None:
    task_queue = f"children-{uuid.uuid4().hex[:8]}"
    child_id = f"child-{uuid.uuid4().hex[:8]}"
    async with Worker(executor.client, task_queue=task_queue, workflows=CHILD_WORKFLOWS):
        parent = await executor.client.start_workflow(
            LeavingParent.run, args=[child_id, policy], id=f"parent-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )  # fmt: skip
        assert await parent.result() == "parent done"
        child = executor.client.get_workflow_handle(child_id)
        if child_state is RunState.RUNNING:
            # Left running: it is still open a while after the parent closed.
            await asyncio.sleep(0.5)
            assert (await child.describe()).state is RunState.RUNNING
            await child.terminate(reason="done with it")
        else:
            assert await _settled(child, {child_state}) is child_state
        if child_state is RunState.COMPLETED:
            assert await child.result() == "cleaned up"


async def test_a_child_id_taken_before_is_refused_under_reject_duplicate(
    executor: ExecutorHarness,
) -> None:
    task_queue = f"children-{uuid.uuid4().hex[:8]}"
    async with Worker(executor.client, task_queue=task_queue, workflows=CHILD_WORKFLOWS):
        result = await executor.client.execute_workflow(
            ReusingParent.run, f"child-{uuid.uuid4().hex[:8]}",
            id=f"parent-{uuid.uuid4().hex[:8]}", task_queue=task_queue,
        )  # fmt: skip
    assert result == ["done", "refused", "done"]


async def test_cancelling_a_child_waits_for_it_to_close(executor: ExecutorHarness) -> None:
    """As Temporal's default (WAIT_CANCELLATION_COMPLETED): the parent's await ends once
    the child has closed, with the child's result if it completed after all."""
    task_queue = f"stop-{uuid.uuid4().hex[:8]}"
    child_id = f"stopped-{uuid.uuid4().hex[:8]}"
    async with Worker(executor.client, task_queue=task_queue, workflows=CHILD_WORKFLOWS):
        result = await executor.client.execute_workflow(
            StoppingChild.run, child_id, id=f"stopper-{child_id}", task_queue=task_queue
        )
    assert result == ["returned", "cleaned up"]  # the child handled the request and completed
    assert (await executor.client.get_workflow_handle(child_id).describe()).state is (
        RunState.COMPLETED
    )


async def test_a_cancelled_parent_waits_for_its_child_to_be_canceled(
    executor: ExecutorHarness,
) -> None:
    task_queue = f"wait-{uuid.uuid4().hex[:8]}"
    child_id = f"waited-{uuid.uuid4().hex[:8]}"
    async with Worker(executor.client, task_queue=task_queue, workflows=CHILD_WORKFLOWS):
        parent = await executor.client.start_workflow(
            WaitingParent.run, child_id, id=f"waiter-{child_id}", task_queue=task_queue
        )
        child = executor.client.get_workflow_handle(child_id)
        # The child has run its first task, so its start reached the parent: a parent
        # cancelled while the start is only initiated gives up on the child (on Temporal
        # the parent closes at once and its close policy terminates the child).
        async with asyncio.timeout(20):
            while not await _ran_first_task(child):
                await asyncio.sleep(0.05)
        await parent.cancel()
        assert await _settled(parent, {RunState.CANCELED, RunState.FAILED}) is RunState.CANCELED
        # The child was canceled (its own cancellation) before the parent closed.
        assert (await child.describe()).state is RunState.CANCELED
        types = [e.type.value for e in await parent.events()]
        assert types.index("child_workflow_canceled") < types.index("workflow_canceled")
