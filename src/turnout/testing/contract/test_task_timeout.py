"""``task_timeout`` on starts and on child workflows, on every executor: the run sees it
in ``workflow.info().task_timeout``, and one over two minutes is shortened to two
minutes, as Temporal's server does."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from turnout.testing.contract.workflows_task_timeout import TASK_TIMEOUT_WORKFLOWS, TaskClock
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize(
    ("given", "child", "seen"),
    [(7.0, 3.5, [7.0, 3.5]), (300.0, 0.5, [120.0, 0.5])],
    ids=["as-given", "shortened"],
)
async def test_runs_see_their_task_timeout(
    executor: ExecutorHarness, given: float, child: float, seen: list[float]
) -> None:
    task_queue = f"tasks-{uuid.uuid4().hex[:8]}"
    async with Worker(executor.client, task_queue=task_queue, workflows=TASK_TIMEOUT_WORKFLOWS):
        result = await executor.client.execute_workflow(
            TaskClock.run,
            child,
            id=f"clock-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            task_timeout=timedelta(seconds=given),
        )
    assert result == seen
