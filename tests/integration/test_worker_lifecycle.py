"""Worker behaviour on the internal executor: backpressure and graceful shutdown."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import turnout
from tests import workflows_for_tests as wf
from turnout import EventType

LIMIT = timedelta(seconds=30)


def _key() -> str:
    return uuid.uuid4().hex[:10]


async def _until_event(handle: Any, event_type: EventType) -> None:
    async with asyncio.timeout(20):
        while not any(e.type is event_type for e in await handle.events()):
            await asyncio.sleep(0.02)


async def test_a_worker_runs_no_more_activities_than_its_slots(client: Any) -> None:
    key, queue = _key(), f"bp-{_key()}"
    async with turnout.Worker(
        client,
        task_queue=queue,
        workflows=[wf.FanOutWorkflow],
        activities=[wf.tracked],
        max_concurrent_activities=2,
    ):
        result = await client.execute_workflow(
            wf.FanOutWorkflow.run, args=[key, 6], id=key, task_queue=queue
        )
    assert result == 6
    assert wf.PEAK[key] == 2  # parallel, but never beyond the two slots


async def test_shutdown_lets_running_activities_finish_within_the_grace_period(
    client: Any,
) -> None:
    queue = f"grace-{_key()}"
    handle = await client.start_workflow(wf.TimeoutWorkflow.run, 0.1, id=_key(), task_queue=queue)
    async with turnout.Worker(
        client,
        task_queue=queue,
        workflows=[wf.TimeoutWorkflow],
        activities=[wf.slow],
        graceful_shutdown_timeout=timedelta(seconds=10),
    ):
        await _until_event(handle, EventType.ACTIVITY_STARTED)
    # The worker left while the activity ran; its result was still recorded.
    assert EventType.ACTIVITY_COMPLETED in [e.type for e in await handle.events()]


async def test_shutdown_releases_unfinished_work_for_another_worker_at_once(client: Any) -> None:
    key, queue = _key(), f"release-{_key()}"
    handle = await client.start_workflow(wf.HoldWorkflow.run, key, id=key, task_queue=queue)
    options = {
        "task_queue": queue,
        "workflows": [wf.HoldWorkflow],
        "activities": [wf.hold],
        "graceful_shutdown_timeout": timedelta(milliseconds=200),
    }
    async with turnout.Worker(client, **options):
        await _until_event(handle, EventType.ACTIVITY_STARTED)
    events = await handle.events()
    released = [e for e in events if e.type is EventType.LEASE_EXPIRED]
    assert [e.attributes["reason"] for e in released] == ["released"]

    async with turnout.Worker(client, **options):
        assert await handle.result(timeout=LIMIT) == "done on attempt 1"
    types = [e.type for e in await handle.events()]
    # Taken over without a timeout and without spending a retry attempt.
    assert EventType.RETRY_SCHEDULED not in types
    assert EventType.ACTIVITY_TIMED_OUT not in types
    assert types.count(EventType.ACTIVITY_STARTED) == 2
