"""``FailureError.failure``: an error that crossed a boundary (an activity's failure seen by
its workflow) carries the failure it was rebuilt from, stack trace included, on every
executor; one raised in the same process carries none."""

from __future__ import annotations

import uuid

import pytest

from turnout import ApplicationError
from turnout.testing.contract.workflows_failure_detail import (
    FAILURE_DETAIL_ACTIVITIES,
    FAILURE_DETAIL_WORKFLOWS,
    Packing,
)
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


async def test_a_failure_carries_its_stack_trace(executor: ExecutorHarness) -> None:
    task_queue = f"packing-{uuid.uuid4().hex[:8]}"
    async with Worker(
        executor.client,
        task_queue=task_queue,
        workflows=FAILURE_DETAIL_WORKFLOWS,
        activities=FAILURE_DETAIL_ACTIVITIES,
    ):
        result = await executor.client.execute_workflow(
            Packing.run, "o-1", id=f"packing-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
    assert result == [True, "order o-1 cannot be packed", True]
    assert ApplicationError("raised here").failure is None
