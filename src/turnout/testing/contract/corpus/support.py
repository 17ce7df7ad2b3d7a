"""What the corpus's scenarios share: the driver type, starting a run on the harness's
worker, bounded waits on what a run has recorded, and its normalized timeline."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from turnout.testing.harness import ExecutorHarness
from turnout.testing.timeline import normalize

__all__ = [
    "COMPLETED",
    "LIMIT",
    "STARTED",
    "Driver",
    "Step",
    "activity_steps",
    "expect_failure",
    "fresh_id",
    "light",
    "recorded",
    "seen",
    "start",
    "steps",
    "until",
    "update_failure",
]

Driver = Callable[[ExecutorHarness], Awaitable[None]]
"""A scenario: drives runs through the harness's client and asserts what they did."""

Step = tuple[str, dict[str, Any]]
STARTED: Step = ("workflow_started", {})
COMPLETED: Step = ("workflow_completed", {})
LIMIT = timedelta(seconds=30)
"""How long a scenario waits for a result before it fails."""


def fresh_id(prefix: str) -> str:
    """A workflow id (or task queue) no other test uses."""
    return f"corpus-{prefix}-{uuid.uuid4().hex[:10]}"


async def start(env: ExecutorHarness, workflow: Any, *args: Any, **options: Any) -> Any:
    """Start ``workflow`` with ``args`` on the harness's worker; returns its handle."""
    options.setdefault("id", fresh_id("run"))
    options.setdefault("task_queue", env.task_queue)
    return await env.client.start_workflow(workflow, args=list(args), **options)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    """Wait until ``await check()`` is true, failing after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def recorded(handle: Any, event_type: str, count: int = 1) -> None:
    """Wait until the run's timeline holds ``count`` events of ``event_type``."""

    async def enough() -> bool:
        return sum(e.type.value == event_type for e in await handle.events()) >= count

    await until(enough)


async def steps(handle: Any) -> list[Step]:
    """The run's normalized timeline (``turnout.testing.timeline.normalize``)."""
    return normalize(await handle.events())


def activity_steps(*names: str) -> list[Step]:
    """The scheduled and completed steps of activities run one after another, once each."""
    out: list[Step] = []
    for name in names:
        out.append(("activity_scheduled", {"activity_type": name}))
        out.append(("activity_completed", {"activity_type": name, "attempt": 1}))
    return out


async def expect_failure(handle: Any) -> BaseException:
    """The cause of the run's failure; fails when the run does not fail."""
    from turnout.client import WorkflowFailureError

    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result(timeout=LIMIT)
    return failed.value.cause


async def update_failure(update: Awaitable[Any]) -> BaseException:
    """The cause of an update's failure (its validator refused it or its handler failed);
    fails when the update succeeds."""
    from turnout.client import WorkflowUpdateFailedError

    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await update
    return failed.value.cause


_BEACONS: dict[str, threading.Event] = {}
_BEACONS_LOCK = threading.Lock()


def _beacon(key: str) -> threading.Event:
    with _BEACONS_LOCK:
        return _BEACONS.setdefault(key, threading.Event())


def light(key: str) -> None:
    """Say that ``key`` happened (from an activity, in any thread of this process)."""
    _beacon(key).set()


async def seen(key: str, timeout: float = 20.0) -> None:
    """Wait until :func:`light` was called with ``key``, failing after ``timeout`` seconds."""
    if not await asyncio.to_thread(_beacon(key).wait, timeout):
        raise AssertionError(f"{key!r} did not happen within {timeout} s")
