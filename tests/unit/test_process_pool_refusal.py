"""A process-pool ``activity_executor`` is refused, when the worker is made, where its sync
activities could not run (as temporalio refuses it); an attempt whose call cannot cross
to a child process fails for good, naming the activity."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from multiprocessing.managers import SyncManager
from pathlib import Path

import pytest

from turnout import activity
from turnout.client import Client
from turnout.contracts.errors import ApplicationError, ConfigurationError
from turnout.contracts.shared_state import check_activity_executor
from turnout.executors.internal.worker.process_pool import ProcessPool
from turnout.worker import SharedStateManager, Worker
from turnout.workflows._runtime import ActivityInfo


@activity.defn
def crunch(n: int) -> int:
    return n * 2


@activity.defn
async def fetch(n: int) -> int:
    return n


@pytest.fixture
def processes() -> Iterator[ProcessPoolExecutor]:
    pool = ProcessPoolExecutor(max_workers=1)  # never given work: no process starts
    yield pool
    pool.shutdown()


@pytest.mark.asyncio
async def test_a_process_pool_without_a_shared_state_manager_is_refused(
    tmp_path: Path, processes: ProcessPoolExecutor
) -> None:
    client = await Client.connect(f"sqlite:///{tmp_path}/w.db")
    try:
        with pytest.raises(ConfigurationError) as refused:
            Worker(client, task_queue="q", activities=[crunch], activity_executor=processes)
        message = str(refused.value)
        assert "\n" not in message
        assert message.startswith("activity crunch is sync and activity_executor is not a thread")
        assert "shared_state_manager=SharedStateManager.create_from_multiprocessing(" in message
        # Async activities run on the event loop: the pool is never used, so never refused.
        Worker(client, task_queue="q", activities=[fetch], activity_executor=processes)
    finally:
        await client.close()


def test_an_activity_that_cannot_be_pickled_is_refused_by_name(
    processes: ProcessPoolExecutor,
) -> None:
    shared = SharedStateManager.create_from_multiprocessing(SyncManager())  # never started

    @activity.defn(name="local_crunch")
    def local_crunch(n: int) -> int:
        return n

    with pytest.raises(ConfigurationError, match=r"^activity local_crunch must be picklable"):
        check_activity_executor(processes, shared, {"local_crunch": local_crunch})
    check_activity_executor(processes, shared, {"crunch": crunch})
    # A thread pool shares the worker's process: nothing crosses, nothing is checked.
    with ThreadPoolExecutor(1) as threads:
        check_activity_executor(threads, None, {"local_crunch": local_crunch})


@pytest.mark.asyncio
async def test_an_attempt_whose_arguments_cannot_be_pickled_fails_for_good(
    processes: ProcessPoolExecutor,
) -> None:
    manager = multiprocessing.get_context("spawn").Manager()
    try:
        now = datetime.now(UTC)
        info = ActivityInfo("1", "crunch", 1, "w", "r", "W", "q", now, now)
        pool = ProcessPool(processes, SharedStateManager.create_from_multiprocessing(manager))
        with pytest.raises(ApplicationError) as failed:
            await pool.run("crunch", crunch, [threading.Lock()], info, None)
        assert failed.value.type == "NotPicklable"
        assert failed.value.non_retryable
        assert str(failed.value).startswith("activity crunch cannot run in a process pool")
    finally:
        manager.shutdown()
