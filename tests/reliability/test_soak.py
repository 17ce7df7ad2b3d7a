"""A soak: a steady load of short workflows on one worker process for a fixed time.

A client in the test keeps a fixed number of short workflows in flight (an activity
and a short timer each), starting the next as soon as one completes, for
``TURNOUT_SOAK_SECONDS`` (15 s by default, the short form CI runs; set it higher for a
real soak). Afterwards every started run must have completed exactly once, the queue
must be empty, and the worker's resident memory must not have grown by more than a
generous bound between the start and the end of the steady phase.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

import turnout
from turnout import RunState, activity, workflow
from turnout.executors.internal.schema import events, queue_items, runs

if TYPE_CHECKING:
    from tests.reliability.conftest import CrashWorkerProcess, CrashWorkers

MODULE = __name__
SOAK_SECONDS = float(os.environ.get("TURNOUT_SOAK_SECONDS", "15"))
"""Length of the steady phase."""
WARM_UP_SECONDS = 2.0
"""Load before the steady phase, so that the worker's pools, caches and imports are warm
when the first memory sample is taken."""
IN_FLIGHT = 8
"""Workflows the client keeps running at once."""
RSS_GROWTH_LIMIT = 50 * 1024 * 1024
"""Largest growth of the worker's resident memory over the steady phase. Generous on
purpose: CPython's allocator keeps freed arenas, connection pools and the sticky cache
settle at a size that depends on timing, and RSS moves by a few MiB for no leak at all.
What it catches is memory held per workflow: closed runs whose instances, histories or
futures are never released grow with the number of runs, which a longer soak (a higher
TURNOUT_SOAK_SECONDS) multiplies past any noise."""
WAIT = 60.0
"""Seconds one workflow, or the final drain, may take before the test fails (a hang)."""


@activity.defn
async def soak_step(n: int) -> int:
    return n + 1


@workflow.defn
class SoakWorkflow:
    @workflow.run
    async def run(self, n: int) -> int:
        stepped = await workflow.execute_activity(
            soak_step, n, start_to_close_timeout=timedelta(seconds=60)
        )
        await workflow.sleep(timedelta(milliseconds=20))
        return stepped


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[Any]:
    c = await turnout.connect(executor="internal", database_url=database_url)
    try:
        yield c
    finally:
        await c.close()


class _Load:
    """Keeps ``IN_FLIGHT`` workflows running; remembers every id it started."""

    def __init__(self, client: Any, task_queue: str, worker: CrashWorkerProcess) -> None:
        self.client = client
        self.task_queue = task_queue
        self.worker = worker
        self.started: list[str] = []
        self.completed = 0

    async def run_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(self._loop(deadline) for _ in range(IN_FLIGHT)))

    async def _loop(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            n = len(self.started)
            workflow_id = f"{self.task_queue}-{n}"
            self.started.append(workflow_id)
            handle = await self.client.start_workflow(
                SoakWorkflow.run, n, id=workflow_id, task_queue=self.task_queue
            )
            try:
                result = await handle.result(timeout=timedelta(seconds=WAIT))
            except TimeoutError:
                raise AssertionError(
                    f"{workflow_id} did not complete within {WAIT} s; "
                    f"{self.worker!r}:\n{self.worker.output()}"
                ) from None
            assert result == n + 1
            self.completed += 1


@pytest.mark.slow
async def test_a_steady_load_loses_nothing_and_memory_stays_flat(
    client: Any, database_url: str, crash_workers: CrashWorkers
) -> None:
    queue = f"soak-{uuid.uuid4().hex[:8]}"
    worker = await crash_workers(database_url=database_url, task_queue=queue, modules=[MODULE])
    load = _Load(client, queue, worker)

    await load.run_for(WARM_UP_SECONDS)
    rss_start = worker.rss_bytes()
    steady_from = len(load.started)
    await load.run_for(SOAK_SECONDS)
    rss_end = worker.rss_bytes()
    steady_runs = len(load.started) - steady_from

    assert worker.running, worker.output()
    assert steady_runs > 0
    assert load.completed == len(load.started)
    growth = rss_end - rss_start
    assert growth < RSS_GROWTH_LIMIT, (
        f"worker RSS grew by {growth / 2**20:.1f} MiB over {steady_runs} runs "
        f"({rss_start / 2**20:.1f} -> {rss_end / 2**20:.1f} MiB)"
    )

    # Nothing lost, nothing twice, nothing left behind, according to the tables.
    async with client.store.reader.connect() as conn:
        per_id = Counter((await conn.execute(select(runs.c.workflow_id))).scalars())
        states = Counter((await conn.execute(select(runs.c.state))).scalars())
        closed = Counter(
            (
                await conn.execute(
                    select(events.c.run_id).where(events.c.type == "workflow_completed")
                )
            ).scalars()
        )
        left = (
            await conn.execute(
                select(func.count()).where(
                    queue_items.c.state.in_(["queued", "claimed", "running"])
                )
            )
        ).scalar_one()
    assert per_id == dict.fromkeys(load.started, 1)
    assert states == {RunState.COMPLETED.value: len(load.started)}
    assert len(closed) == len(load.started)
    assert set(closed.values()) == {1}
    assert left == 0
    print(
        f"soak: {len(load.started)} runs, {steady_runs} in {SOAK_SECONDS:.0f} s steady; "
        f"worker RSS {rss_start / 2**20:.1f} -> {rss_end / 2**20:.1f} MiB"
    )
