"""The behaviours of samples-python's ``updatable_timer`` (a sleep whose wake-up time a
signal moves, built on ``wait_condition`` with a timeout) and ``sleep_for_days`` (a loop
of an activity and a very long timer that a signal cuts short)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from turnout import activity, workflow
from turnout.testing.contract.corpus.support import (
    COMPLETED,
    STARTED,
    Driver,
    activity_steps,
    recorded,
    start,
    steps,
)
from turnout.testing.harness import ExecutorHarness


@workflow.defn
class AlarmClock:
    """Sleeps until its wake-up time, which a signal may move at any moment."""

    @workflow.init
    def __init__(self, wake_at: datetime) -> None:
        self.wake_at = wake_at
        self.moved = False
        self.naps = 0

    @workflow.run
    async def run(self, wake_at: datetime) -> int:
        while (left := self.wake_at - workflow.now()) > timedelta(0):
            self.moved = False
            self.naps += 1
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.moved, timeout=left)
        return self.naps

    @workflow.signal
    def move(self, wake_at: datetime) -> None:
        """Moves the wake-up time."""
        self.wake_at = wake_at
        self.moved = True

    @workflow.query
    def wakes_at(self) -> datetime:
        """The current wake-up time."""
        return self.wake_at


@activity.defn
async def post_digest(issue: int) -> str:
    """Sends one issue."""
    return f"issue {issue} sent"


@workflow.defn
class Digest:
    """Sends an issue, then waits thirty days or for the reader to unsubscribe."""

    def __init__(self) -> None:
        self.subscribed = True

    @workflow.run
    async def run(self) -> int:
        issues = 0
        while self.subscribed:
            issues += 1
            await workflow.execute_activity(
                post_digest, issues, start_to_close_timeout=timedelta(seconds=10)
            )
            await workflow.wait(
                [
                    asyncio.create_task(workflow.sleep(timedelta(days=30))),
                    asyncio.create_task(workflow.wait_condition(lambda: not self.subscribed)),
                ],
                return_when=asyncio.FIRST_COMPLETED,
            )
        return issues

    @workflow.signal
    def unsubscribe(self) -> None:
        """Ends the loop."""
        self.subscribed = False


WORKFLOWS = [AlarmClock, Digest]
ACTIVITIES = [post_digest]


async def updatable_timer(env: ExecutorHarness) -> None:
    tomorrow = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    handle = await start(env, AlarmClock.run, tomorrow)
    assert await handle.query(AlarmClock.wakes_at) == tomorrow
    await recorded(handle, "timer_started")
    soon = datetime.now(UTC) + timedelta(milliseconds=300)
    await handle.signal(AlarmClock.move, soon)
    naps = await handle.result()
    assert naps >= 2
    assert await handle.query(AlarmClock.wakes_at) == soon
    first_nap = next(s for s in await steps(handle) if s[0] == "timer_started")
    assert 86000 < first_nap[1]["duration"] <= 86400


async def sleep_for_days(env: ExecutorHarness) -> None:
    handle = await start(env, Digest.run)
    await recorded(handle, "timer_started")
    await handle.signal(Digest.unsubscribe)
    assert await handle.result() == 1
    assert await steps(handle) == [
        STARTED,
        *activity_steps("post_digest"),
        ("timer_started", {"duration": 30 * 86400.0}),
        ("signal_received", {"name": "unsubscribe"}),
        COMPLETED,
    ]


SCENARIOS: dict[str, Driver] = {
    "updatable_timer": updatable_timer,
    "sleep_for_days": sleep_for_days,
}
"""The scenarios of this group, by sample."""
