"""``workflow.info()``'s history methods answer on every executor: the history's length
grows with each workflow task and is the same on replay, its size is positive, and a short
run is not told to continue as new."""

from __future__ import annotations

import uuid

import pytest

from turnout.testing.contract.workflows_history import HISTORY_WORKFLOWS, HistoryWatcher
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


async def test_history_length_size_and_the_continue_as_new_suggestion(
    executor: ExecutorHarness,
) -> None:
    task_queue = f"history-{uuid.uuid4().hex[:8]}"
    # A worker keeps no instance between tasks here (max_cached_workflows=0), so every
    # task replays the run from its start: the answers must be the recorded ones.
    async with Worker(
        executor.client,
        task_queue=task_queue,
        workflows=HISTORY_WORKFLOWS,
        max_cached_workflows=0,
    ):
        result = await executor.client.execute_workflow(
            HistoryWatcher.run, 3, id=f"history-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
    assert result == [True, True, True, False]
