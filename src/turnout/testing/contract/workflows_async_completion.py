"""Activities completed from outside their worker (``activity.raise_complete_async()``)
and the workflows awaiting them (the scenarios in ``test_async_completion.py``)."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from turnout import activity, workflow
from turnout.common import RetryPolicy
from turnout.exceptions import ActivityError, ApplicationError, TimeoutError
from turnout.workflow import ActivityCancellationType

_HANDED: dict[str, queue.Queue[tuple[bytes, str]]] = {}
_LOCK = threading.Lock()


def handed_out(key: str) -> queue.Queue[tuple[bytes, str]]:
    """The (task token, activity id) of each attempt of ``key``'s activity that left
    itself open, in order."""
    with _LOCK:
        return _HANDED.setdefault(key, queue.Queue())


async def next_attempt(key: str, timeout: float = 30.0) -> tuple[bytes, str]:
    """The next attempt of ``key``'s activity to leave itself open (waits for it)."""
    return await asyncio.to_thread(handed_out(key).get, True, timeout)


@activity.defn
async def finished_elsewhere(key: str) -> str:
    """Leaves its first attempt open for the test to complete; a later attempt returns
    at once."""
    info = activity.info()
    if info.attempt > 1:
        return f"attempt {info.attempt} returned"
    handed_out(key).put((info.task_token, info.activity_id))
    activity.raise_complete_async()


def _outcome(err: ActivityError) -> str:
    cause = err.__cause__
    if isinstance(cause, TimeoutError):
        return f"timed out: {cause.type.value if cause.type else None}"
    if isinstance(cause, ApplicationError):
        return f"failed: {cause.type}: {cause.message}"
    return f"failed: {type(cause).__name__}"


@workflow.defn
class AwaitsOutsideCompletion:
    """Runs ``finished_elsewhere`` under the given timeouts and attempts; returns what
    its await gave."""

    @workflow.run
    async def run(self, key: str, start_to_close: float, heartbeat: float, attempts: int) -> str:
        try:
            result = await workflow.execute_activity(
                finished_elsewhere,
                key,
                start_to_close_timeout=timedelta(seconds=start_to_close),
                heartbeat_timeout=timedelta(seconds=heartbeat) if heartbeat else None,
                retry_policy=RetryPolicy(
                    maximum_attempts=attempts, initial_interval=timedelta(milliseconds=100)
                ),
            )
        except ActivityError as err:
            return _outcome(err)
        return f"completed: {result}"


@workflow.defn
class CancelsOutsideActivity:
    """Cancels its open ``finished_elsewhere`` when signalled ``cancel``, and waits for
    the cancellation to be reported."""

    def __init__(self) -> None:
        self.cancel_now = False

    @workflow.signal
    def cancel(self) -> None:
        self.cancel_now = True

    @workflow.run
    async def run(self, key: str) -> str:
        handle = workflow.start_activity(
            finished_elsewhere,
            key,
            start_to_close_timeout=timedelta(seconds=60),
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await workflow.wait_condition(lambda: self.cancel_now)
        handle.cancel()
        try:
            return f"completed: {await handle}"
        except asyncio.CancelledError:
            return "cancelled"
        except ActivityError as err:
            return _outcome(err)


ASYNC_COMPLETION_WORKFLOWS: list[type] = [AwaitsOutsideCompletion, CancelsOutsideActivity]
ASYNC_COMPLETION_ACTIVITIES: list[Callable[..., Any]] = [finished_elsewhere]
