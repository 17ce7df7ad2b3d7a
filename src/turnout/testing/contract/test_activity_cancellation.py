"""``ActivityCancellationType`` behaves as on Temporal on every executor: TRY_CANCEL asks
the activity to cancel and the await raises at once; WAIT_CANCELLATION_COMPLETED raises
once the activity has stopped; ABANDON never tells the activity."""

from __future__ import annotations

import uuid

import pytest

from turnout.testing.contract.workflows_cancellation import (
    CANCELLATION_ACTIVITIES,
    CANCELLATION_WORKFLOWS,
    CancelsItsActivity,
    TakesWhatItGets,
)
from turnout.testing.harness import ExecutorHarness
from turnout.testing.timeline import normalize
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("kind", ["try_cancel", "wait_cancellation_completed", "abandon"])
async def test_each_cancellation_type(executor: ExecutorHarness, kind: str) -> None:
    key = uuid.uuid4().hex
    task_queue = f"cancel-{key[:8]}"
    async with Worker(
        executor.client,
        task_queue=task_queue,
        workflows=CANCELLATION_WORKFLOWS,
        activities=CANCELLATION_ACTIVITIES,
    ):
        handle = await executor.client.start_workflow(
            CancelsItsActivity.run, args=[key, kind], id=f"cancel-{key[:8]}",
            task_queue=task_queue,
        )  # fmt: skip
        outcome, stopped = await handle.result()
        assert outcome == "cancelled"
        if kind == "wait_cancellation_completed":
            assert stopped is True  # the await raised only once the activity had stopped
        if kind == "abandon":
            assert stopped is False  # never told
    requested = ("activity_cancel_requested", {"activity_type": "beat_until_told"})
    assert (requested in normalize(await handle.events())) is (kind != "abandon")


async def test_an_activity_that_answers_its_cancellation_with_a_result(
    executor: ExecutorHarness,
) -> None:
    """As on Temporal: under WAIT_CANCELLATION_COMPLETED, an activity that catches its
    cancellation and returns completes, and the workflow gets what it returned."""
    key = uuid.uuid4().hex
    task_queue = f"wind-{key[:8]}"
    async with Worker(
        executor.client,
        task_queue=task_queue,
        workflows=CANCELLATION_WORKFLOWS,
        activities=CANCELLATION_ACTIVITIES,
    ):
        result = await executor.client.execute_workflow(
            TakesWhatItGets.run, key, id=f"wind-{key[:8]}", task_queue=task_queue
        )
        handle = executor.client.get_workflow_handle(f"wind-{key[:8]}")
    assert result == f"partial result of {key}"
    types = [event.type.value for event in await handle.events()]
    assert "activity_completed" in types
    assert "activity_canceled" not in types
