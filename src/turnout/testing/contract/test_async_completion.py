"""Asynchronous activity completion behaves as on Temporal on every executor: an activity
that called ``activity.raise_complete_async()`` stays open until a handle completes,
fails or cancels it; the workflow sees that outcome as any activity's; its timeouts and
retry policy still apply; a call for an attempt that is no longer open is refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from turnout.client import ActivityNotFoundError, AsyncActivityCancelledError, AsyncActivityHandle
from turnout.exceptions import ApplicationError
from turnout.testing.contract.workflows_async_completion import (
    ASYNC_COMPLETION_ACTIVITIES,
    ASYNC_COMPLETION_WORKFLOWS,
    AwaitsOutsideCompletion,
    CancelsOutsideActivity,
    next_attempt,
)
from turnout.testing.harness import ExecutorHarness
from turnout.testing.timeline import normalize
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio

ACT = {"activity_type": "finished_elsewhere"}
STARTED: tuple[str, dict[str, Any]] = ("workflow_started", {})
SCHEDULED = ("activity_scheduled", ACT)
DONE: tuple[str, dict[str, Any]] = ("workflow_completed", {})
WAITS = AwaitsOutsideCompletion.run


@asynccontextmanager
async def _running(
    executor: ExecutorHarness, workflow: Callable[..., Any], *args: Any
) -> AsyncIterator[tuple[Any, bytes, str]]:
    """A worker, and a run of ``workflow`` (its arguments a fresh key, then ``args``)
    whose activity has left itself open: the run's handle, the attempt's task token and
    the activity id."""
    key = uuid.uuid4().hex
    task_queue = f"async-{key[:8]}"
    async with Worker(
        executor.client,
        task_queue=task_queue,
        workflows=ASYNC_COMPLETION_WORKFLOWS,
        activities=ASYNC_COMPLETION_ACTIVITIES,
    ):
        handle = await executor.client.start_workflow(
            workflow, args=[key, *args], id=f"async-{key[:8]}", task_queue=task_queue
        )
        token, activity_id = await next_attempt(key)
        yield handle, token, activity_id


def _by_token(executor: ExecutorHarness, token: bytes) -> AsyncActivityHandle:
    handle: AsyncActivityHandle = executor.client.get_async_activity_handle(task_token=token)
    return handle


async def _asked_to_cancel(outside: AsyncActivityHandle) -> AsyncActivityCancelledError:
    """Heartbeat until a heartbeat says the activity was asked to cancel (at most 20 s)."""
    async with asyncio.timeout(20):
        while True:
            try:
                await outside.heartbeat("still here")
            except AsyncActivityCancelledError as asked:
                return asked
            await asyncio.sleep(0.1)


async def _timeline(handle: Any) -> Sequence[Any]:
    return normalize(await handle.events())


async def test_completed_from_outside_once(executor: ExecutorHarness) -> None:
    async with _running(executor, WAITS, 30.0, 0.0, 1) as (handle, token, _):
        outside = _by_token(executor, token)
        await outside.complete("from outside")
        assert await asyncio.wait_for(handle.result(), 30) == "completed: from outside"
        with pytest.raises(ActivityNotFoundError, match="nothing was recorded"):
            await outside.complete("again")
    completed = ("activity_completed", {**ACT, "attempt": 1})
    assert await _timeline(handle) == [STARTED, SCHEDULED, completed, DONE]


async def test_failed_from_outside(executor: ExecutorHarness) -> None:
    async with _running(executor, WAITS, 30.0, 0.0, 3) as (handle, token, _):
        error = ApplicationError("no stock left", type="OutOfStock", non_retryable=True)
        await _by_token(executor, token).fail(error)
        assert await asyncio.wait_for(handle.result(), 30) == "failed: OutOfStock: no stock left"
    failed = ("activity_failed", {**ACT, "attempt": 1})
    assert await _timeline(handle) == [STARTED, SCHEDULED, failed, DONE]


async def test_a_failure_from_outside_is_retried_by_the_retry_policy(
    executor: ExecutorHarness,
) -> None:
    async with _running(executor, WAITS, 30.0, 0.0, 2) as (handle, token, _):
        await _by_token(executor, token).fail(ApplicationError("busy", type="Busy"))
        assert await asyncio.wait_for(handle.result(), 30) == "completed: attempt 2 returned"
    completed = ("activity_completed", {**ACT, "attempt": 2})
    assert await _timeline(handle) == [STARTED, SCHEDULED, completed, DONE]


async def test_heartbeats_through_the_handle_keep_it_open(executor: ExecutorHarness) -> None:
    # A 2 s heartbeat timeout, beaten for 4 s: only the handle's heartbeats keep it open.
    async with _running(executor, WAITS, 30.0, 2.0, 1) as (handle, token, _):
        outside = _by_token(executor, token)
        for beat in range(5):
            await outside.heartbeat(beat)
            await asyncio.sleep(0.8)
        await outside.complete("after beats")
        assert await asyncio.wait_for(handle.result(), 30) == "completed: after beats"


async def test_completed_by_workflow_run_and_activity_ids(executor: ExecutorHarness) -> None:
    async with _running(executor, WAITS, 30.0, 0.0, 1) as (handle, _, activity_id):
        outside = executor.client.get_async_activity_handle(
            workflow_id=handle.id, run_id=handle.result_run_id, activity_id=activity_id
        )
        await outside.complete("by ids")
        assert await asyncio.wait_for(handle.result(), 30) == "completed: by ids"
        unknown = executor.client.get_async_activity_handle(
            workflow_id=handle.id, run_id=handle.result_run_id, activity_id="no-such-activity"
        )
        with pytest.raises(ActivityNotFoundError):
            await unknown.complete("nobody")


async def test_a_completion_after_the_timeout_is_refused(executor: ExecutorHarness) -> None:
    async with _running(executor, WAITS, 2.0, 0.0, 1) as (handle, token, _):
        assert await asyncio.wait_for(handle.result(), 30) == "timed out: start_to_close"
        outside = _by_token(executor, token)
        with pytest.raises(ActivityNotFoundError):
            await outside.complete("too late")
        with pytest.raises(ActivityNotFoundError):
            await outside.fail(ApplicationError("too late"))
    timed_out = ("activity_timed_out", ACT)
    assert await _timeline(handle) == [STARTED, SCHEDULED, timed_out, DONE]


async def test_cancellation_reported_from_outside(executor: ExecutorHarness) -> None:
    async with _running(executor, CancelsOutsideActivity.run) as (handle, token, _):
        outside = _by_token(executor, token)
        await outside.heartbeat("not yet asked")
        await handle.signal(CancelsOutsideActivity.cancel)
        # The cancellation reaches the activity at its next heartbeat once recorded.
        assert "cancelled" in str(await _asked_to_cancel(outside))
        await outside.report_cancellation()
        assert await asyncio.wait_for(handle.result(), 30) == "cancelled"
        with pytest.raises(ActivityNotFoundError):
            await outside.complete("after the cancellation")
    assert await _timeline(handle) == [
        STARTED,
        SCHEDULED,
        ("signal_received", {"name": "cancel"}),
        ("activity_cancel_requested", ACT),
        DONE,
    ]
