"""The behaviours of samples-python's ``hello_query``, ``hello_signal`` and
``hello_update`` (state a query reads, signals through an asyncio.Queue, an update that
lets the run finish), ``hello_cancellation`` (a cancelled workflow cancels
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


@workflow.defn
class Concierge:
    """Its query answers from state a signal changes."""

    def __init__(self) -> None:
        self.line = "<nothing yet>"
        self.leaving = False

    @workflow.run
    async def run(self, guest: str) -> str:
        self.line = f"Good morning, {guest}"
        await workflow.wait_condition(lambda: self.leaving)
        self.line = f"Safe travels, {guest}"
        return self.line

    @workflow.query
    def current_line(self) -> str:
        """What the concierge says now."""
        return self.line

    @workflow.signal
    def leave(self) -> None:
        """The guest leaves."""
        self.leaving = True


@workflow.defn
class Mailroom:
    """Collects names from signals through an asyncio.Queue until told to close."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.closing = False

    @workflow.run
    async def run(self) -> list[str]:
        sorted_mail: list[str] = []
        while True:
            await workflow.wait_condition(lambda: not self.inbox.empty() or self.closing)
            while not self.inbox.empty():
                sorted_mail.append(f"letter for {self.inbox.get_nowait()}")
            if self.closing:
                return sorted_mail

    @workflow.signal
    async def deliver(self, name: str) -> None:
        """Queues a letter."""
        await self.inbox.put(name)

    @workflow.signal
    def close(self) -> None:
        """Closes the mailroom."""
        self.closing = True


@workflow.defn
class Turnstile:
    """Waits until an update lets it through; the update answers the caller."""

    def __init__(self) -> None:
        self.unlocked = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.unlocked)
        return "passed through"

    @workflow.update
    async def unlock(self, code: int) -> str:
        """Unlocks the turnstile."""
        self.unlocked = True
        return f"unlocked with {code}"


WORKFLOWS = [NightWatch, Garage, Concierge, Mailroom, Turnstile]
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


async def hello_query(env: ExecutorHarness) -> None:
    handle = await start(env, Concierge.run, "Mira")
    assert await handle.query(Concierge.current_line) == "Good morning, Mira"
    await handle.signal(Concierge.leave)
    assert await handle.result() == "Safe travels, Mira"
    assert await handle.query(Concierge.current_line) == "Safe travels, Mira"


async def hello_signal(env: ExecutorHarness) -> None:
    handle = await start(env, Mailroom.run)
    for name in ("Ada", "Grace", "Linus"):
        await handle.signal(Mailroom.deliver, name)
    await handle.signal(Mailroom.close)
    assert await handle.result() == ["letter for Ada", "letter for Grace", "letter for Linus"]
    received = [step for step in await steps(handle) if step[0] == "signal_received"]
    assert [attrs["name"] for _, attrs in received] == ["deliver"] * 3 + ["close"]


async def hello_update(env: ExecutorHarness) -> None:
    handle = await start(env, Turnstile.run)
    assert await handle.execute_update(Turnstile.unlock, 4711) == "unlocked with 4711"
    assert await handle.result() == "passed through"
    assert await steps(handle) == [
        STARTED,
        ("workflow_update_accepted", {"name": "unlock"}),
        ("workflow_update_completed", {}),
        COMPLETED,
    ]


SCENARIOS: dict[str, Driver] = {
    "hello_cancellation": hello_cancellation,
    "hello_async_activity_completion": hello_async_activity_completion,
    "hello_query": hello_query,
    "hello_signal": hello_signal,
    "hello_update": hello_update,
}
"""The scenarios of this group, by sample."""
