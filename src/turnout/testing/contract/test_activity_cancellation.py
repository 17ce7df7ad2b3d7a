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
