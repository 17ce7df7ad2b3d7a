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


CANCELLATION_WORKFLOWS: list[type] = [CancelsItsActivity]
CANCELLATION_ACTIVITIES: list[Callable[..., Any]] = [beat_until_told, has_stopped]
