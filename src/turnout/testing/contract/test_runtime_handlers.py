"""Handlers set while a workflow runs (``workflow.set_signal_handler``,
``set_query_handler``, ``set_update_handler``) behave as on Temporal on every executor:
signals that came first wait for their handler, queries and updates reach the handler
the code set, a validator set with it rejects."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from turnout import EventType
from turnout.client import WorkflowUpdateFailedError
from turnout.testing.contract.workflows_handlers import HANDLER_WORKFLOWS, Switchboard
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


async def test_handlers_set_at_run_time(executor: ExecutorHarness) -> None:
    task_queue = f"switch-{uuid.uuid4().hex[:8]}"
    handle = await executor.client.start_workflow(
        Switchboard.run, id=f"switch-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    # Sent before any worker runs the code, so before the handler exists.
    await handle.signal("say", "early")
    async with Worker(executor.client, task_queue=task_queue, workflows=HANDLER_WORKFLOWS):
        async with asyncio.timeout(20):
            while not any(
                e.type is EventType.WORKFLOW_TASK_COMPLETED for e in await handle.events()
            ):
                await asyncio.sleep(0.02)
        await handle.signal("say", "late")
        assert await handle.execute_update("count", 10, id="count-1") == 12
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await handle.execute_update("count", -1, id="count-2")
        assert "extra must not be negative" in str(rejected.value.cause)
        assert await handle.query("heard") == ["early", "late"]
        await handle.signal("stop")
        assert await handle.result() == ["early", "late"]
