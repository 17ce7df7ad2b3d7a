"""Sync activities that run in a process pool (the scenarios in ``test_process_pool.py``).

The activities are module-level functions, so a child process can import them. A child
tells the test what it does through a TCP connection to ``port`` (one line a message,
``"<what> <pid>"``): the test awaits those lines instead of sleeping.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from turnout import activity, workflow
from turnout.common import RetryPolicy
from turnout.exceptions import ApplicationError, CancelledError
from turnout.workflow import ActivityCancellationType

STALL_SECONDS = 4.0
"""How long the first attempt of :func:`stalls_once` waits without a heartbeat."""


def tell(port: int, what: str) -> None:
    """Send ``"<what> <pid>"`` to the test listening on ``port``."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"{what} {os.getpid()}\n".encode())


def warm(barrier: threading.Barrier) -> int:
    """Run in each process of a pool at once (``barrier`` is a manager's): every child is
    then up, so no attempt waits for a process to start under its heartbeat timeout."""
    barrier.wait(60)
    return os.getpid()


@activity.defn
def where_am_i(greeting: str) -> list[Any]:
    info = activity.info()
    activity.heartbeat("looking")
    return [f"{greeting} from {info.activity_type}", os.getpid(), info.attempt]


@activity.defn
def beats_then_fails(progress: int) -> list[Any]:
    info = activity.info()
    if info.attempt == 1:
        activity.heartbeat(progress, "halfway")
        raise ApplicationError("the first attempt gives up halfway")
    return [info.attempt, list(info.heartbeat_details)]


@activity.defn
def beats_until_cancelled(port: int) -> str:
    tell(port, "started")
    deadline = time.monotonic() + 30
    beat = 0
    while time.monotonic() < deadline:
        beat += 1
        activity.heartbeat(beat)
        if activity.is_cancelled():
            tell(port, "cancelled")
            raise CancelledError("the child process was told to stop")
        time.sleep(0.05)
    return "never told"


@activity.defn
def stalls_once(port: int) -> list[Any]:
    info = activity.info()
    if info.attempt == 1:
        activity.heartbeat("before the stall")
        tell(port, "stalled")
        # No heartbeat now: the heartbeat timeout ends this attempt. The internal
        # executor tells the child; on Temporal it learns nothing and returns late.
        activity.wait_for_cancelled_sync(STALL_SECONDS)
        return ["late"]
    return [info.attempt, list(info.heartbeat_details)]


@workflow.defn
class RunsInChildProcess:
    @workflow.run
    async def run(self, scenario: str, port: int) -> Any:
        if scenario == "where":
            return await workflow.execute_activity(
                where_am_i, "hello", start_to_close_timeout=timedelta(seconds=60)
            )
        if scenario == "retry":
            return await workflow.execute_activity(
                beats_then_fails,
                3,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
            )
        return await workflow.execute_activity(
            stalls_once,
            port,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )


@workflow.defn
class CancelsChildProcess:
    def __init__(self) -> None:
        self._cancel = False

    @workflow.run
    async def run(self, port: int) -> str:
        handle = workflow.start_activity(
            beats_until_cancelled,
            port,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=2),
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await workflow.wait_condition(lambda: self._cancel)
        handle.cancel()
        try:
            return await handle
        except asyncio.CancelledError:
            return "cancelled"

    @workflow.signal
    def cancel(self) -> None:
        self._cancel = True


PROCESS_POOL_WORKFLOWS: list[type] = [RunsInChildProcess, CancelsChildProcess]
PROCESS_POOL_ACTIVITIES: list[Callable[..., Any]] = [
    where_am_i,
    beats_then_fails,
    beats_until_cancelled,
    stalls_once,
]
