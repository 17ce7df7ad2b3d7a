"""A schedule's fires on the internal executor, where the workers act on them: each fire
starts exactly one run however many workers race for it, across a worker's restart; and
fires missed while no worker ran are caught up by the schedule's policy."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

import turnout
from turnout.contracts.schedule_times import fire_times
from turnout.contracts.schedules import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from turnout.executors.internal.scheduler import Scheduler
from turnout.executors.internal.store.sql import use_clock
from turnout.testing.contract.workflows_schedules import SCHEDULE_WORKFLOWS, Tick

pytestmark = pytest.mark.asyncio

T = TypeVar("T")


async def _eventually(probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool]) -> T:
    async with asyncio.timeout(60):
        while True:
            value = await probe()
            if ok(value):
                return value
            await asyncio.sleep(0.1)


def _every_second(schedule_id: str, queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(Tick.run, "t", id=schedule_id, task_queue=queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
    )


async def _worker(stack: AsyncExitStack, database_url: str, queue: str) -> AsyncExitStack:
    """A worker of its own client (its own connections), entered on a stack of its own."""
    own = AsyncExitStack()
    client = await turnout.connect(executor="internal", database_url=database_url)
    own.push_async_callback(client.close)
    await own.enter_async_context(
        turnout.Worker(client, task_queue=queue, workflows=SCHEDULE_WORKFLOWS)
    )
    stack.push_async_callback(own.aclose)
    return own


async def test_each_fire_starts_one_run_with_three_workers_and_a_restart(
    database_url: str, client: Any
) -> None:
    schedule_id, queue = f"once-{uuid.uuid4().hex[:8]}", f"once-q-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        workers = [await _worker(stack, database_url, queue) for _ in range(3)]
        handle = await client.create_schedule(schedule_id, _every_second(schedule_id, queue))
        await _eventually(handle.describe, lambda d: d.info.num_actions >= 3)
        await workers[1].aclose()  # a worker stops mid-schedule...
        await _eventually(handle.describe, lambda d: d.info.num_actions >= 5)
        await _worker(stack, database_url, queue)  # ...and another starts
        await _eventually(handle.describe, lambda d: d.info.num_actions >= 8)
        await handle.pause()
        described = await handle.describe()
        runs = await client.list_workflows(f"WorkflowId STARTS_WITH '{schedule_id}-'")
    ids = [run.workflow_id for run in runs]
    assert len(ids) == len(set(ids)) == described.info.num_actions
    fired = sorted(datetime.strptime(i[len(schedule_id) + 1 :], "%Y-%m-%dT%H:%M:%SZ") for i in ids)
    # One run per second from the first fire to the last: none twice, none left out.
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(fired))


@pytest.fixture
async def still_clock() -> AsyncIterator[list[datetime]]:
    """The store's clock, set by the test: ``clock[0]`` is now."""
    clock = [datetime(2026, 12, 24, 18, 0, 30, tzinfo=UTC)]
    use_clock(lambda: clock[0])
    try:
        yield clock
    finally:
        use_clock(None)


@pytest.mark.parametrize("overlap", [ScheduleOverlapPolicy.ALLOW_ALL, ScheduleOverlapPolicy.SKIP])
async def test_fires_missed_during_ten_minutes_of_downtime_are_caught_up_by_the_policy(
    client: Any, still_clock: list[datetime], overlap: ScheduleOverlapPolicy
) -> None:
    schedule_id = f"catchup-{uuid.uuid4().hex[:8]}"
    window = timedelta(minutes=5)
    spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))])
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(Tick.run, "t", id=schedule_id, task_queue="nobody"),
        spec=spec,
        policy=SchedulePolicy(overlap=overlap, catchup_window=window),
    )
    created = still_clock[0]
    handle = await client.create_schedule(schedule_id, schedule)
    # Ten minutes pass with no worker running: nothing acts on the fires.
    still_clock[0] = created + timedelta(minutes=10)
    now = still_clock[0]
    # A worker starts: its scheduler's first pass catches up.
    await Scheduler(client.store).pass_once()
    described = await handle.describe()
    due = fire_times(spec, created, now, 100)
    inside = [t for t in due if t >= now - window]
    assert len(due) == 10
    assert described.info.num_actions_missed_catchup_window == len(due) - len(inside)
    started = sorted(r.scheduled_at for r in described.info.recent_actions)
    if overlap is ScheduleOverlapPolicy.ALLOW_ALL:
        assert started == inside
    else:
        # The first fire inside the window starts a run, and the others find it open.
        assert started == inside[:1]
        assert described.info.num_actions_skipped_overlap == len(inside) - 1
    # A second pass finds nothing more to do.
    await Scheduler(client.store).pass_once()
    assert (await handle.describe()).info.num_actions == len(started)
