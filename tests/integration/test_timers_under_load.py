"""A due timer fires while a worker is busy draining a backlog, not after it: a worker that
claims pass after pass (every free slot filled each time) still looks for due timers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

import turnout
from tests.workflows_for_tests import record
from turnout import workflow
from turnout.contracts.events import EventType

pytestmark = pytest.mark.timeout(120)

QUEUE = "timers-under-load"
BACKLOG_RUNS = 20
STEPS = 60
"""Activities each backlog run schedules at once."""


@workflow.defn
class Backlog:
    @workflow.run
    async def run(self) -> int:
        done = await asyncio.gather(
            *(
                workflow.execute_activity(
                    record, str(n), start_to_close_timeout=timedelta(seconds=60)
                )
                for n in range(STEPS)
            )
        )
        return len(done)


@workflow.defn
class Nap:
    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(milliseconds=50))
        return "awake"


async def test_a_timer_fires_while_a_backlog_drains(client: Any) -> None:
    backlog = [
        await client.start_workflow(Backlog.run, id=f"backlog-{i}", task_queue=QUEUE)
        for i in range(BACKLOG_RUNS)
    ]
    async with turnout.Worker(
        client,
        task_queue=QUEUE,
        workflows=[Backlog, Nap],
        activities=[record],
        max_concurrent_activities=4,
    ):
        # The backlog's runs were queued first: the worker is busy with them when the
        # timer is started and falls due.
        nap = await client.start_workflow(Nap.run, id="nap", task_queue=QUEUE)
        assert await nap.result() == "awake"
        fired = [e.at for e in await nap.events() if e.type is EventType.TIMER_FIRED]
        assert await asyncio.gather(*(h.result() for h in backlog)) == [STEPS] * BACKLOG_RUNS
    completed = [
        e.at for h in backlog for e in await h.events() if e.type is EventType.ACTIVITY_COMPLETED
    ]
    assert len(completed) == BACKLOG_RUNS * STEPS
    assert len(fired) == 1
    # Fired while the backlog still had work to do, not once it was drained.
    later = [at for at in completed if at > fired[0]]
    assert len(later) > STEPS, f"the timer fired after {len(completed) - len(later)} activities"
