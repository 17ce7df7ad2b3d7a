"""The queue chaos suite, table bloat: a steady load with finished queue items pruned.

- ``table_bloat``: a steady load for ``TURNOUT_CHAOS_MINUTES`` minutes (0.75 by default,
  the CI form; set it to 30 for the long form) with finished queue items pruned: no
  finished queue item outlives the pruning window while runs and events grow with the
  work done; claim latency per window and table sizes at start, middle and end printed.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.reliability.chaos_drain import FIGURES, FINISHED, LIVE, Drain, Factory, ms
from tests.reliability.chaos_drain import database_url as database_url  # the fixture
from tests.reliability.chaos_drain import drain_factory as drain_factory  # the fixture
from turnout.executors.internal.schema import events, queue_items, runs

CHAOS_MINUTES = float(os.environ.get("TURNOUT_CHAOS_MINUTES", "0.75"))
"""Length of the table-bloat load; the CI form is 45 s (past the pruning window)."""
BLOAT_RETENTION = 1.0
"""``finished_item_retention`` of the table-bloat workers (seconds)."""
PRUNE_PERIOD = 60.0
"""How often one worker prunes finished queue items (fixed in the worker, seconds)."""
BLOAT_WORKERS = 3
"""Workers of the table-bloat load, started ``PRUNE_PERIOD / BLOAT_WORKERS`` apart so that
the fleet prunes every 20 s (a fleet whose workers started at different times)."""
PRUNE_WINDOW = PRUNE_PERIOD / BLOAT_WORKERS + BLOAT_RETENTION + 14.0
"""No finished queue item may be older than this (seconds): the fleet's prune interval,
the retention, and slack for worker start-up, reaper passes and the sample's own read."""

# --------------------------------------------------------------------------- table bloat

BLOAT_IN_FLIGHT = 8
"""Workflows the client keeps open during the table-bloat load."""


class _Latencies:
    """Claim latency of activity tasks (``activity_started`` minus ``activity_scheduled``,
    first attempts), read from the events as they come (events are never pruned)."""

    def __init__(self, drain: Drain) -> None:
        self.drain = drain
        self.last_id = 0
        self.scheduled: dict[tuple[str, int], datetime] = {}

    async def window(self) -> list[float]:
        rows = await self.drain.read(
            select(events.c.id, events.c.run_id, events.c.type, events.c.at, events.c.attributes)
            .where(
                events.c.id > self.last_id,
                events.c.type.in_(["activity_scheduled", "activity_started"]),
            )
            .order_by(events.c.id)
        )
        seconds: list[float] = []
        for row in rows:
            self.last_id = max(self.last_id, row.id)
            key = (row.run_id, int(row.attributes.get("activity_seq") or row.attributes["seq"]))
            if row.type == "activity_scheduled":
                self.scheduled[key] = row.at
            elif row.attributes.get("attempt") == 1 and key in self.scheduled:
                seconds.append((row.at - self.scheduled.pop(key)).total_seconds())
        return seconds


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@pytest.mark.timeout(int(CHAOS_MINUTES * 60) + 240)
async def test_chaos_table_bloat(database_url: str, drain_factory: Factory) -> None:
    """A steady load for ``TURNOUT_CHAOS_MINUTES``: finished queue items are pruned (none
    older than ``PRUNE_WINDOW``), runs and events keep all the work done; claim latency per
    window and table sizes at start, middle and end are printed."""
    drain = await drain_factory(database_url, "table-bloat")
    duration = CHAOS_MINUTES * 60
    window = max(5.0, duration / 12)
    await drain.add_worker(finished_item_retention=BLOAT_RETENTION)
    began = time.monotonic()
    going = asyncio.Event()
    going.set()
    producer = asyncio.create_task(drain.keep_busy(going, 1, at_least=0, in_flight=BLOAT_IN_FLIGHT))
    latencies = _Latencies(drain)
    sizes: dict[str, dict[str, int]] = {"start": await drain.table_sizes()}
    samples: list[dict[str, float]] = []
    lines: list[str] = []
    try:
        while (elapsed := time.monotonic() - began) < duration:
            stagger = PRUNE_PERIOD / BLOAT_WORKERS
            if len(drain.workers) < BLOAT_WORKERS and elapsed >= stagger * len(drain.workers):
                await drain.add_worker(finished_item_retention=BLOAT_RETENTION)
            await asyncio.sleep(min(window, max(0.0, duration - elapsed)))
            sample = await _sample(drain)
            sample["t"] = time.monotonic() - began
            samples.append(sample)
            claimed = await latencies.window()
            if claimed:
                lines.append(
                    f"  t={sample['t']:.0f}s claims {len(claimed)} p50 {ms(_p(claimed, 0.5))} "
                    f"p99 {ms(_p(claimed, 0.99))}; queue rows {sample['queue']:.0f} "
                    f"(live {sample['live']:.0f}), runs {sample['runs']:.0f}, "
                    f"events {sample['events']:.0f}"
                )
                print(lines[-1], flush=True)  # as it goes: a long run shows its figures
            if len(sizes) == 1 and sample["t"] >= duration / 2:
                sizes["middle"] = await drain.table_sizes()
                print(f"  sizes at start {sizes['start']}, middle {sizes['middle']}", flush=True)
            drain.check_workers()
        going.clear()
        await producer
    finally:
        producer.cancel()
    await drain.drained()
    sizes["end"] = await drain.table_sizes()
    await drain.assert_exactly_once()
    end = await _sample(drain)
    # The items ever made: the highest id; none is left at all once pruning caught up
    # with a long load, and then each run made at least its first workflow task.
    highest = await drain.scalar(select(func.max(queue_items.c.id)))
    made = int(highest) if highest is not None else len(drain.handles)

    # No finished item outlived the pruning window, at any sample; the checks had teeth
    # (the load ran past the window), and the table holds far fewer rows than were made.
    stale = [(s["t"], s["stale"]) for s in samples if s["stale"]]
    assert stale == [], f"finished queue items older than {PRUNE_WINDOW} s: {stale}"
    assert samples[-1]["t"] > PRUNE_WINDOW + window
    assert end["queue"] < made / 2, (end, made)
    # Runs and events are the record: they keep growing with the work done.
    assert [s["runs"] for s in samples] == sorted(s["runs"] for s in samples)
    assert [s["events"] for s in samples] == sorted(s["events"] for s in samples)
    assert end["runs"] == len(drain.handles)
    FIGURES.append(
        f"table_bloat[{drain.dialect}]: {duration / 60:.1f} min, {len(drain.handles)} "
        f"workflows, {made} queue items made, {end['queue']:.0f} left at the end"
    )
    FIGURES.extend(lines)
    for when, table in sizes.items():
        FIGURES.append(f"  sizes at {when}: {_sizes(table, drain.dialect)}")


async def _sample(drain: Drain) -> dict[str, float]:
    """Row counts now; ``stale``: finished queue items older than ``PRUNE_WINDOW``."""
    cutoff = _now() - timedelta(seconds=PRUNE_WINDOW)

    async def count(table: Any, *where: Any) -> float:
        return float(await drain.scalar(select(func.count()).select_from(table).where(*where)))

    return {
        "queue": await count(queue_items),
        "live": await count(queue_items, queue_items.c.state.in_(LIVE)),
        "stale": await count(
            queue_items,
            queue_items.c.state.in_(FINISHED),
            queue_items.c.updated_at < cutoff,
        ),
        "runs": await count(runs),
        "events": await count(events),
    }


def _now() -> datetime:
    return datetime.now(UTC)


def _sizes(sizes: dict[str, int], dialect: str) -> str:
    if dialect == "postgresql":
        return ", ".join(f"{k} {v / 2**10:.0f} KiB" for k, v in sizes.items())
    return ", ".join(f"{k} {v} pages" for k, v in sizes.items())
