"""Workers are visible on every executor: ``client.workers(task_queue)`` lists the
workers polling a queue, and ``describe()`` of an open run no worker polls for says so in
``stuck_reason`` (the same words on every executor), and says nothing once one does."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from turnout.contracts.workers import no_worker_reason
from turnout.testing.contract.workflows_pending import PENDING_WORKFLOWS, Waiter
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


async def _until(probe: Any, ok: Any) -> Any:
    async with asyncio.timeout(30):
        while True:
            value = await probe()
            if ok(value):
                return value
            await asyncio.sleep(0.1)


async def test_a_run_no_worker_polls_for_says_so_until_one_does(
    executor: ExecutorHarness,
) -> None:
    client = executor.client
    queue = f"workers-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        Waiter.run, id=f"workers-{uuid.uuid4().hex[:8]}", task_queue=queue
    )
    assert (await handle.describe()).stuck_reason == no_worker_reason(queue)
    assert await client.workers(queue) == []
    async with Worker(client, task_queue=queue, workflows=PENDING_WORKFLOWS):
        found = await _until(lambda: client.workers(queue), bool)
        assert {w.task_queue for w in found} == {queue}
        run = await _until(handle.describe, lambda r: r.stuck_reason is None)
        assert not run.state.is_terminal
        await handle.signal(Waiter.go)
        assert await handle.result() == "done"
