"""The behaviours of samples-python's ``hello_cancellation`` (a cancelled workflow cancels
its heartbeating activity and cleans up in ``finally``) and
``hello_async_activity_completion`` (an activity completed later from outside)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from turnout import activity, workflow
from turnout.exceptions import CancelledError
from turnout.testing.contract.corpus.support import (
    COMPLETED,
    STARTED,
    Driver,
    activity_steps,
    expect_failure,
    light,
    seen,
    start,
    steps,
)
from turnout.testing.harness import ExecutorHarness


@activity.defn
def keep_watch(post: str) -> str:
    """Watches until cancelled; learns of the cancel at a heartbeat, which raises."""
    light(f"watching:{activity.info().workflow_id}")
    while True:
        time.sleep(0.05)
        activity.heartbeat(post)


@activity.defn
def hand_over_keys(post: str) -> str:
    """The cleanup."""
    return f"keys of {post} handed over"


@workflow.defn
class NightWatch:
    """Keeps watch until cancelled, then cleans up in ``finally``."""

    @workflow.run
    async def run(self, post: str) -> str:
        try:
            return await workflow.execute_activity(
                keep_watch,
                post,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=2),
            )
        finally:
            await workflow.execute_activity(
                hand_over_keys, post, start_to_close_timeout=timedelta(seconds=10)
            )


_DELIVERIES: set[asyncio.Task[None]] = set()


async def _deliver_later(client: Any, token: bytes, part: str) -> None:
    handle = client.get_async_activity_handle(task_token=token)
    for _ in range(2):
        await handle.heartbeat()
        await asyncio.sleep(0.05)
    await handle.complete(f"{part} delivered")


@activity.defn
async def order_part(part: str) -> str:
    """Leaves itself open; a task of the worker's completes it through a handle."""
    task = asyncio.create_task(_deliver_later(activity.client(), activity.info().task_token, part))
    _DELIVERIES.add(task)
    task.add_done_callback(_DELIVERIES.discard)
    activity.raise_complete_async()


@workflow.defn
class Garage:
    """Awaits an activity completed asynchronously."""

    @workflow.run
    async def run(self, part: str) -> str:
        return await workflow.execute_activity(
            order_part,
            part,
            start_to_close_timeout=timedelta(seconds=10),
            heartbeat_timeout=timedelta(seconds=2),
        )


WORKFLOWS = [NightWatch, Garage]
ACTIVITIES = [keep_watch, hand_over_keys, order_part]


async def hello_cancellation(env: ExecutorHarness) -> None:
    handle = await start(env, NightWatch.run, "north gate")
    await seen(f"watching:{handle.id}")
    await handle.cancel()
    assert isinstance(await expect_failure(handle), CancelledError)
    assert (await handle.describe()).status.name == "CANCELED"
    assert await steps(handle) == [
        STARTED,
        ("activity_scheduled", {"activity_type": "keep_watch"}),
        ("workflow_cancel_requested", {}),
        ("activity_cancel_requested", {"activity_type": "keep_watch"}),
        *activity_steps("hand_over_keys"),
        ("workflow_canceled", {}),
    ]


async def hello_async_activity_completion(env: ExecutorHarness) -> None:
    handle = await start(env, Garage.run, "gearbox")
    assert await handle.result() == "gearbox delivered"
    assert await steps(handle) == [
        STARTED,
        *activity_steps("order_part"),
        COMPLETED,
    ]


SCENARIOS: dict[str, Driver] = {
    "hello_cancellation": hello_cancellation,
    "hello_async_activity_completion": hello_async_activity_completion,
}
"""The scenarios of this group, by sample."""
