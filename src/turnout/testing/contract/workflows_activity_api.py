"""Activities that use more of ``turnout.activity`` (the scenarios in
``test_activity_api.py``): a client of their own, and cancellation in a sync activity."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from turnout import activity, workflow

STOPPED: dict[str, threading.Event] = {}
"""Per run: set when the sync activity's thread has unwound (the test waits on it)."""


@activity.defn
async def describe_own_run() -> str:
    """Reads its own run through the client the worker gives it."""
    info = activity.info()
    run = await activity.client().get_workflow_handle(info.workflow_id).describe()
    return f"{run.workflow_type} is {run.status.name}"


@activity.defn
def heartbeat_until_cancelled(key: str) -> str:
    """A sync activity: it learns of its cancellation at a heartbeat, which raises."""
    try:
        for _ in range(600):
            activity.heartbeat()
            time.sleep(0.05)
        return "never cancelled"
    finally:
        STOPPED.setdefault(key, threading.Event()).set()


@workflow.defn
class UsesActivityApi:
    @workflow.run
    async def run(self, key: str) -> list[str]:
        seen = await workflow.execute_activity(
            describe_own_run, start_to_close_timeout=timedelta(seconds=10)
        )
        handle = workflow.start_activity(
            heartbeat_until_cancelled,
            key,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=5),
        )
        await workflow.sleep(timedelta(seconds=1))
        handle.cancel()
        try:
            await handle
            outcome = "finished"
        except (asyncio.CancelledError, Exception):
            outcome = "cancelled"
        return [seen, outcome]


ACTIVITY_API_WORKFLOWS: list[type] = [UsesActivityApi]
ACTIVITY_API_ACTIVITIES: list[Callable[..., Any]] = [describe_own_run, heartbeat_until_cancelled]
