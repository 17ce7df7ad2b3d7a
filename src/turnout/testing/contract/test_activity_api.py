"""``activity.client()`` and cancellation of a sync activity, on every executor: an
activity reaches its run through the worker's client; a sync activity asked to cancel
learns of it at its next heartbeat, which raises, so its thread unwinds."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from turnout.testing.contract.workflows_activity_api import (
    ACTIVITY_API_ACTIVITIES,
    ACTIVITY_API_WORKFLOWS,
    STOPPED,
    UsesActivityApi,
)
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


async def test_client_and_sync_cancellation(executor: ExecutorHarness) -> None:
    key = uuid.uuid4().hex
    stopped = STOPPED.setdefault(key, threading.Event())
    task_queue = f"activity-api-{key[:8]}"
    async with Worker(
        executor.client,
        task_queue=task_queue,
        workflows=ACTIVITY_API_WORKFLOWS,
        activities=ACTIVITY_API_ACTIVITIES,
    ):
        result = await executor.client.execute_workflow(
            UsesActivityApi.run, key, id=f"activity-api-{key[:8]}", task_queue=task_queue
        )
        assert result == ["UsesActivityApi is RUNNING", "cancelled"]
        # The thread unwound long before its 30 s loop would have ended.
        assert await asyncio.to_thread(stopped.wait, 15)
