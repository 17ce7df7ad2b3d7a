"""Sync activities in a process pool behave as in temporalio on every executor: they run
in another process, their heartbeats reach the worker (the next attempt's
``heartbeat_details``, the heartbeat timeout), and a cancellation reaches them through
``activity.is_cancelled()``."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import pytest
import pytest_asyncio

from turnout.testing.contract.workflows_process_pool import (
    PROCESS_POOL_ACTIVITIES,
    PROCESS_POOL_WORKFLOWS,
    CancelsChildProcess,
    RunsInChildProcess,
    warm,
)
from turnout.testing.harness import ExecutorHarness
from turnout.worker import SharedStateManager, Worker

pytestmark = pytest.mark.asyncio

_SPAWN = multiprocessing.get_context("spawn")
"""Children start afresh: forking a process that runs threads can deadlock them."""


@dataclass
class Pool:
    executor: ProcessPoolExecutor
    shared: SharedStateManager


@pytest.fixture
def pool() -> Iterator[Pool]:
    manager = _SPAWN.Manager()
    executor = ProcessPoolExecutor(max_workers=2, mp_context=_SPAWN)
    try:
        barrier = manager.Barrier(2)
        assert len(set(executor.map(warm, [barrier, barrier], timeout=90))) == 2
        yield Pool(executor, SharedStateManager.create_from_multiprocessing(manager))
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        manager.shutdown()


class Listener:
    """Lines the child processes send (``"<what> <pid>"``), awaited in order."""

    def __init__(self) -> None:
        self.lines: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        what, pid = (await reader.readline()).decode().split()
        self.lines.put_nowait((what, int(pid)))
        writer.close()

    async def next(self) -> tuple[str, int]:
        return await asyncio.wait_for(self.lines.get(), 60)


@pytest_asyncio.fixture
async def listener() -> AsyncIterator[Listener]:
    listening = Listener()
    server = await asyncio.start_server(listening._serve, "127.0.0.1", 0)
    listening.port = server.sockets[0].getsockname()[1]
    async with server:
        yield listening


def _worker(executor: ExecutorHarness, pool: Pool, task_queue: str) -> Worker:
    return Worker(
        executor.client,
        task_queue=task_queue,
        workflows=PROCESS_POOL_WORKFLOWS,
        activities=PROCESS_POOL_ACTIVITIES,
        activity_executor=pool.executor,
        shared_state_manager=pool.shared,
        max_concurrent_activities=2,  # no more than the pool runs at once
    )


async def _run(executor: ExecutorHarness, pool: Pool, scenario: str, port: int = 0) -> object:
    key = uuid.uuid4().hex[:8]
    async with _worker(executor, pool, f"pool-{key}"):
        return await asyncio.wait_for(
            executor.client.execute_workflow(
                RunsInChildProcess.run,
                args=[scenario, port],
                id=f"pool-{scenario}-{key}",
                task_queue=f"pool-{key}",
            ),
            90,
        )


async def test_a_sync_activity_runs_in_another_process(
    executor: ExecutorHarness, pool: Pool
) -> None:
    result = await _run(executor, pool, "where")
    assert isinstance(result, list)
    greeting, pid, attempt = result
    assert greeting == "hello from where_am_i"  # activity.info() crossed with the call
    assert attempt == 1
    assert pid != os.getpid()  # the test's process, which runs the worker too


async def test_heartbeats_from_the_child_reach_the_next_attempt(
    executor: ExecutorHarness, pool: Pool
) -> None:
    assert await _run(executor, pool, "retry") == [2, [3, "halfway"]]


async def test_a_heartbeat_timeout_ends_a_child_that_stopped_heartbeating(
    executor: ExecutorHarness, pool: Pool, listener: Listener
) -> None:
    running = asyncio.ensure_future(_run(executor, pool, "stall", listener.port))
    what, pid = await listener.next()
    assert (what, pid != os.getpid()) == ("stalled", True)
    # Not ["late"]: the first attempt timed out before its child returned, and the
    # second read the heartbeat the first sent before it stalled.
    assert await running == [2, ["before the stall"]]


async def test_a_cancellation_reaches_the_child(
    executor: ExecutorHarness, pool: Pool, listener: Listener
) -> None:
    key = uuid.uuid4().hex[:8]
    async with _worker(executor, pool, f"pool-{key}"):
        handle = await executor.client.start_workflow(
            CancelsChildProcess.run, listener.port, id=f"pool-cancel-{key}",
            task_queue=f"pool-{key}",
        )  # fmt: skip
        what, pid = await listener.next()
        assert (what, pid != os.getpid()) == ("started", True)
        await handle.signal(CancelsChildProcess.cancel)
        # WAIT_CANCELLATION_COMPLETED: the run ends only once the child has stopped.
        assert await asyncio.wait_for(handle.result(), 60) == "cancelled"
        assert await listener.next() == ("cancelled", pid)
