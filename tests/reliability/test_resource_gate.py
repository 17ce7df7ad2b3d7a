"""Resource gates: concurrency slots and the memory gate of the internal worker.

100 work orders on a worker with 2 activity slots and a memory limit: never more
than 2 activities run at once (counted inside the activity, and seen from the
database), all complete, and the process stays under the limit. A worker whose
memory limit is below its resident memory claims nothing and stays up; a worker
with a sane limit then drains the same queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import turnout
from turnout import EventType, RunState, activity, workflow
from turnout.contracts.records import QueueItemKind, QueueItemState
from turnout.executors.internal.schema import events, queue_items, runs
from turnout.executors.internal.store import FireTimersParams
from turnout.executors.internal.worker import rss_bytes

ORDERS = 100
SLOTS = 2
HEADROOM = 512 * 1024 * 1024
"""The memory limit of the sane worker: its resident memory at start plus this."""
DRAIN_TIMEOUT = 120.0
GATE_POLLS = 10
"""Claim-loop passes the gated worker must make (claiming nothing) before the check."""
SATURATE_WAIT = 10.0
"""Seconds an activity holds its slot waiting for every slot to be in use (a bound)."""


@dataclass
class Gauge:
    """What the activities saw: how many ran at once, and the process's memory."""

    running: int = 0
    most: int = 0
    done: list[int] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    saturated: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once every slot was in use at the same time."""


GAUGE = Gauge()


@activity.defn
async def work_order(n: int) -> int:
    GAUGE.running += 1
    GAUGE.most = max(GAUGE.most, GAUGE.running)
    if GAUGE.running >= SLOTS:
        GAUGE.saturated.set()
    try:
        GAUGE.rss.append(rss_bytes())
        # Hold the slot until every slot has been in use at once (bounded: a worker that
        # never fills its slots fails the test instead of hanging it), so that the limit
        # is really reached, whatever the pace of dispatch; then a short piece of work.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(GAUGE.saturated.wait(), SATURATE_WAIT)
        await asyncio.sleep(0.02)
        GAUGE.rss.append(rss_bytes())
        GAUGE.done.append(n)
        return n * 2
    finally:
        GAUGE.running -= 1


@workflow.defn
class WorkOrder:
    @workflow.run
    async def run(self, n: int) -> int:
        result: int = await workflow.execute_activity(
            work_order, n, start_to_close_timeout=timedelta(seconds=60)
        )
        return result


@pytest.fixture(autouse=True)
def _fresh_gauge() -> None:
    global GAUGE
    GAUGE = Gauge()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def gate_client(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    client = await turnout.connect(
        executor="internal", database_url=request.getfixturevalue(fixture)
    )
    try:
        yield client
    finally:
        await client.close()


async def _start(client: Any, queue: str, n: int) -> list[Any]:
    return [
        await client.start_workflow(WorkOrder.run, i, id=f"{queue}-{i}", task_queue=queue)
        for i in range(n)
    ]


async def _sample_until(
    done: asyncio.Event, sample: Callable[[], Awaitable[None]], every: float = 0.01
) -> None:
    while not done.is_set():
        await sample()
        await asyncio.sleep(every)


async def test_two_slots_never_run_more_than_two_and_stay_under_the_memory_limit(
    gate_client: Any,
) -> None:
    client = gate_client
    queue = f"orders-{uuid.uuid4().hex[:8]}"
    handles = await _start(client, queue, ORDERS)
    limit = rss_bytes() + HEADROOM
    leased_seen: list[int] = []
    rss_seen: list[int] = []

    async def sample_database() -> None:
        async with client.store.reader.connect() as conn:
            leased = (
                await conn.execute(
                    select(func.count()).where(
                        queue_items.c.task_queue == queue,
                        queue_items.c.kind == QueueItemKind.ACTIVITY_TASK.value,
                        queue_items.c.state.in_(
                            [QueueItemState.CLAIMED.value, QueueItemState.RUNNING.value]
                        ),
                    )
                )
            ).scalar_one()
        leased_seen.append(leased)

    async def sample_memory() -> None:
        rss_seen.append(rss_bytes())

    finished = asyncio.Event()
    async with turnout.Worker(
        client,
        task_queue=queue,
        workflows=[WorkOrder],
        activities=[work_order],
        max_concurrent_activities=SLOTS,
        max_memory_bytes=limit,
    ):
        samplers = [
            asyncio.create_task(_sample_until(finished, sample_database)),
            asyncio.create_task(_sample_until(finished, sample_memory)),
        ]
        try:
            async with asyncio.timeout(DRAIN_TIMEOUT):
                results = [await h.result() for h in handles]
        finally:
            finished.set()
            await asyncio.gather(*samplers)

    assert results == [2 * i for i in range(ORDERS)]
    assert sorted(GAUGE.done) == list(range(ORDERS))
    # Never more than the slots, inside the process or in the database; and the slots
    # were really contended (both in use at once), or the bound proves nothing.
    assert GAUGE.most == SLOTS, GAUGE.most
    assert leased_seen
    assert max(leased_seen) <= SLOTS, max(leased_seen)
    memory = GAUGE.rss + rss_seen
    assert memory
    assert max(memory) < limit, (max(memory), limit)
    for handle in handles:
        assert (await handle.describe()).state is RunState.COMPLETED


async def test_a_worker_over_its_memory_limit_claims_nothing_until_one_with_a_sane_limit_drains(
    gate_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = gate_client
    queue = f"gated-{uuid.uuid4().hex[:8]}"
    handles = await _start(client, queue, 10)
    before = await _snapshot(client, queue)
    assert rss_bytes() > 1

    # Count the claim loop's passes: each one begins by firing due timers.
    store = client.store
    passes = 0
    fire_timers = store.fire_timers

    async def counted(p: FireTimersParams) -> int:
        nonlocal passes
        if p.task_queue == queue:
            passes += 1
        fired: int = await fire_timers(p)
        return fired

    caplog.set_level(logging.WARNING, logger="turnout.worker")
    gated = turnout.Worker(
        client,
        task_queue=queue,
        workflows=[WorkOrder],
        activities=[work_order],
        max_memory_bytes=1,  # below any process's resident memory
        poll_interval=timedelta(milliseconds=20),
    )
    store.fire_timers = counted
    try:
        async with gated:
            async with asyncio.timeout(30):
                while passes < GATE_POLLS:
                    await asyncio.sleep(0.02)
            backend = gated._backend
            # Alive and healthy: its loops still run, nothing crashed, nothing is held.
            assert [t.done() for t in backend._loops] == [False] * len(backend._loops)
            assert await _snapshot(client, queue) == before
            assert GAUGE.done == []
            over = [r for r in caplog.records if "over its memory limit" in r.getMessage()]
            assert over, [r.getMessage() for r in caplog.records]
            assert backend.identity in over[0].getMessage()
    finally:
        del store.fire_timers
    assert await _snapshot(client, queue) == before  # shutting down released nothing: none held

    async with turnout.Worker(
        client,
        task_queue=queue,
        workflows=[WorkOrder],
        activities=[work_order],
        max_memory_bytes=rss_bytes() + HEADROOM,
    ) as sane:
        async with asyncio.timeout(DRAIN_TIMEOUT):
            results = [await h.result() for h in handles]
    assert results == [2 * i for i in range(10)]
    for handle in handles:
        timeline = await handle.events()
        workers = {
            e.attributes["worker"]
            for e in timeline
            if e.type in {EventType.WORKFLOW_TASK_COMPLETED, EventType.ACTIVITY_STARTED}
        }
        assert workers == {sane._backend.identity}, workers


async def _snapshot(client: Any, queue: str) -> dict[str, Any]:
    """The queue's items, its runs and their events: what a claim would change."""
    async with client.store.reader.connect() as conn:
        items = (
            await conn.execute(
                select(
                    queue_items.c.id,
                    queue_items.c.kind,
                    queue_items.c.state,
                    queue_items.c.attempt,
                    queue_items.c.lease_owner,
                    queue_items.c.updated_at,
                )
                .where(queue_items.c.task_queue == queue)
                .order_by(queue_items.c.id)
            )
        ).all()
        run_rows = (
            await conn.execute(
                select(runs.c.run_id, runs.c.state, runs.c.next_seq, runs.c.updated_at)
                .where(runs.c.task_queue == queue)
                .order_by(runs.c.run_id)
            )
        ).all()
        event_rows = (
            await conn.execute(
                select(events.c.run_id, events.c.seq, events.c.type)
                .where(events.c.run_id.in_([r.run_id for r in run_rows]))
                .order_by(events.c.run_id, events.c.seq)
            )
        ).all()
    return {
        "items": [tuple(r) for r in items],
        "runs": [tuple(r) for r in run_rows],
        "events": [tuple(r) for r in event_rows],
    }
