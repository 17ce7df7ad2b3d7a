"""Which run each handle call reaches, as on Temporal's server.

The handle ``start_workflow`` returns addresses the workflow id (``run_id`` None): its
signals reach the run a continue-as-new started, and its result follows the chain from
the run it started. A handle on one run addresses that run. Cancel and terminate reach
only the chain that began with the handle's ``first_execution_run_id``.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from turnout import RunState, WorkflowAlreadyCompletedError, WorkflowNotFoundError
from turnout.client import WorkflowContinuedAsNewError
from turnout.testing.contract.workflows_handles import HANDLE_WORKFLOWS, Relay
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


async def _continued(handle: object, first: str) -> str:
    """The run id after ``first`` once the workflow continued as new."""
    async with asyncio.timeout(20):
        while (run := await handle.describe()).run_id == first:  # type: ignore[attr-defined]
            await asyncio.sleep(0.02)
    return run.run_id


async def test_start_handle_follows_continue_as_new(executor: ExecutorHarness) -> None:
    task_queue = f"relay-{uuid.uuid4().hex[:8]}"
    workflow_id = f"relay-{uuid.uuid4().hex[:8]}"
    client = executor.client
    async with Worker(client, task_queue=task_queue, workflows=HANDLE_WORKFLOWS):
        handle = await client.start_workflow(Relay.run, 0, id=workflow_id, task_queue=task_queue)
        first = handle.result_run_id
        assert handle.run_id is None
        assert first is not None
        assert handle.first_execution_run_id == first
        second = await _continued(handle, first)

        pinned = client.get_workflow_handle(workflow_id, run_id=first)
        assert (pinned.run_id, pinned.result_run_id) == (first, first)
        assert pinned.first_execution_run_id is None
        with pytest.raises(WorkflowAlreadyCompletedError):
            await pinned.signal(Relay.poke, "to the closed run")
        assert await pinned.query(Relay.seen) == []

        with pytest.raises(WorkflowContinuedAsNewError) as continued:
            await pinned.result(follow_runs=False)
        assert continued.value.new_execution_run_id == second

        await handle.signal(Relay.poke, "x")
        assert await handle.result() == ["run1", "x"]
        assert await pinned.result() == ["run1", "x"]
        assert (await handle.describe()).run_id == second


async def test_cancel_and_terminate_stay_in_their_chain(executor: ExecutorHarness) -> None:
    task_queue = f"relay-{uuid.uuid4().hex[:8]}"
    workflow_id = f"relay-{uuid.uuid4().hex[:8]}"
    client = executor.client
    async with Worker(client, task_queue=task_queue, workflows=HANDLE_WORKFLOWS):
        old = await client.start_workflow(Relay.run, 1, id=workflow_id, task_queue=task_queue)
        await old.signal(Relay.poke, "a")
        assert await old.result() == ["run1", "a"]

        # A new workflow of the same id: the old start handle's cancel and terminate do
        # not reach it, its signals do (they address the workflow id).
        new = await client.start_workflow(Relay.run, 1, id=workflow_id, task_queue=task_queue)
        with pytest.raises(WorkflowNotFoundError):
            await old.terminate("meant for the old chain")
        with pytest.raises(WorkflowNotFoundError):
            await old.cancel()
        assert not (await new.describe()).state.is_terminal
        bogus = client.get_workflow_handle(workflow_id, first_execution_run_id=f"{uuid.uuid4()}")
        with pytest.raises(WorkflowNotFoundError):
            await bogus.terminate()
        await old.signal(Relay.poke, "b")
        assert await new.result() == ["run1", "b"]

        third = await client.start_workflow(Relay.run, 1, id=workflow_id, task_queue=task_queue)
        chain = client.get_workflow_handle(
            workflow_id, first_execution_run_id=third.first_execution_run_id
        )
        await chain.terminate("by its chain")
        assert (await third.describe()).state is RunState.TERMINATED
        with pytest.raises(WorkflowAlreadyCompletedError):
            await chain.terminate("again")
