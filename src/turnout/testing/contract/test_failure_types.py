"""``failure_exception_types`` (on ``@workflow.defn``) and the worker's
``workflow_failure_exception_types``: an exception of a named type fails the workflow, as
on Temporal; any other fails the workflow task and leaves the run open for a fix."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from turnout import ApplicationError, EventType, RunState, TimeoutError, WorkflowFailureError
from turnout.testing.contract.workflows_failures import FAILURE_WORKFLOWS, StrictOrder
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


def _id() -> str:
    return f"order-{uuid.uuid4().hex[:10]}"


async def test_a_named_exception_fails_the_workflow(executor: ExecutorHarness) -> None:
    task_queue = _id()
    async with Worker(executor.client, task_queue=task_queue, workflows=FAILURE_WORKFLOWS):
        handle = await executor.client.start_workflow(
            StrictOrder.run, "bad", id=_id(), task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        cause = failed.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "InvalidOrder"
        assert "order 'bad' is invalid" in cause.message
        assert (await handle.describe()).state is RunState.FAILED


async def test_the_workers_types_count_too_and_others_fail_only_the_task(
    executor: ExecutorHarness,
) -> None:
    named = _id()
    async with Worker(
        executor.client,
        task_queue=named,
        workflows=FAILURE_WORKFLOWS,
        workflow_failure_exception_types=[KeyError],
    ):
        handle = await executor.client.start_workflow(
            StrictOrder.run, "missing", id=_id(), task_queue=named
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        assert isinstance(failed.value.cause, ApplicationError)
        assert failed.value.cause.type == "KeyError"

    unnamed = _id()
    async with Worker(executor.client, task_queue=unnamed, workflows=FAILURE_WORKFLOWS):
        handle = await executor.client.start_workflow(
            StrictOrder.run, "missing", id=_id(), task_queue=unnamed
        )
        async with asyncio.timeout(20):
            while not any(e.type is EventType.WORKFLOW_TASK_FAILED for e in await handle.events()):
                await asyncio.sleep(0.05)
        assert (await handle.describe()).state.is_terminal is False
        await handle.terminate(reason="a bug, to be fixed")


async def test_a_run_timeout_ends_the_run_timed_out(executor: ExecutorHarness) -> None:
    handle = await executor.client.start_workflow(
        StrictOrder.run, "never picked up", id=_id(), task_queue=f"nobody-{_id()}",
        run_timeout=timedelta(seconds=1),
    )  # fmt: skip
    # No worker polls its queue: the run times out all the same, as on Temporal.
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result(timeout=timedelta(seconds=30))
    assert isinstance(failed.value.cause, TimeoutError)
    assert (await handle.describe()).state is RunState.TIMED_OUT
