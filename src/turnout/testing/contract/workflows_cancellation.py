"""A workflow that cancels its activity under each ``ActivityCancellationType`` (the
scenarios in ``test_activity_cancellation.py``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from turnout import activity, workflow
from turnout.workflow import ActivityCancellationType

STOPPED: dict[str, threading.Event] = {}
"""Per key: set when the activity stopped because it was cancelled."""


def _event(events: dict[str, threading.Event], key: str) -> threading.Event:
    return events.setdefault(key, threading.Event())


@activity.defn
async def beat_until_told(key: str) -> str:
    try:
        for _ in range(100):
            activity.heartbeat()
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        _event(STOPPED, key).set()
        raise
    return "finished"


@activity.defn
async def has_stopped(key: str) -> bool:
    return _event(STOPPED, key).is_set()


@workflow.defn
class CancelsItsActivity:
    @workflow.run
    async def run(self, key: str, kind: str) -> list[object]:
        handle = workflow.start_activity(
            beat_until_told,
            key,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=1),
            cancellation_type=ActivityCancellationType(kind),
        )
        await workflow.sleep(timedelta(milliseconds=500))
        handle.cancel()
        try:
            await handle
            outcome = "finished"
        except asyncio.CancelledError:
            outcome = "cancelled"
        stopped = await workflow.execute_activity(
            has_stopped, key, start_to_close_timeout=timedelta(seconds=10)
        )
        return [outcome, stopped]


@activity.defn
async def wind_down(key: str) -> str:
    """Heartbeats until told to cancel, then returns what it had instead of stopping."""
    try:
        for _ in range(300):
            activity.heartbeat()
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        return f"partial result of {key}"
    return "finished"


@workflow.defn
class TakesWhatItGets:
    """Cancels an activity that answers its cancellation with a result, and waits for it."""

    @workflow.run
    async def run(self, key: str) -> str:
        handle = workflow.start_activity(
            wind_down,
            key,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=2),
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await workflow.sleep(timedelta(milliseconds=500))
        handle.cancel()
        try:
            return str(await handle)
        except asyncio.CancelledError:
            return "cancelled"


CANCELLATION_WORKFLOWS: list[type] = [CancelsItsActivity, TakesWhatItGets]
CANCELLATION_ACTIVITIES: list[Callable[..., Any]] = [beat_until_told, has_stopped, wind_down]
