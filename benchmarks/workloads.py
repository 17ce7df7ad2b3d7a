"""The workloads: what each one starts, waits for and measures.

Throughput workloads (``one_activity``, ``sequential``, ``fan_out``) start
every workflow at once (at most ``START_CONCURRENCY`` start calls in flight, or
``--start-concurrency``),
wait until all are closed, and take their figures from the times the executor
recorded: throughput is measured workflows divided by the time from the first
start call to the last close; latency is each run's close minus its request.

Latency workloads (``signal``, ``idle``) run one sample at a time and time it
in this process, from the call (signal or start) to the UDP datagram the
``ping`` activity sends when it starts on a worker.

``claim`` lives in :mod:`benchmarks.history` (internal executors only).

Every workload first runs a short warm-up on the same workers (imports, caches,
connection pools, Temporal's sandbox), which is not measured.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from benchmarks.flows import Echo, FanOut, OneActivity, Pickup, Sequential
from benchmarks.metrics import Pings, latency_summary
from benchmarks.session import Session
from benchmarks.targets import Target

__all__ = [
    "FULL_SIZES",
    "MIN_SIZES",
    "WORKLOADS",
    "Options",
    "Workload",
    "one_activity",
    "sizes_for",
    "start_many",
]

START_CONCURRENCY = 32
"""Start calls in flight at once when a workload starts many workflows (the default)."""

SEQUENTIAL_STEPS = 10
FAN_OUT_WIDTH = 50
IDLE_GAP = (0.3, 0.6)
"""Seconds of idleness before each idle pick-up sample (uniformly drawn)."""
PING_TIMEOUT = 30.0

FULL_SIZES: dict[str, int] = {
    "one_activity": 2000,
    "sequential": 100,
    "fan_out": 20,
    "signal": 200,
    "idle": 30,
    "claim": 1_000_000,
}
"""Full-size count of each workload: workflows, round trips, samples, or finished runs
in the history (``claim``)."""

MIN_SIZES: dict[str, int] = {
    "one_activity": 4,
    "sequential": 2,
    "fan_out": 1,
    "signal": 3,
    "idle": 3,
    "claim": 1000,
}


def sizes_for(scale: float) -> dict[str, int]:
    """Every workload's count at ``scale`` (1.0: full size), never below its minimum."""
    return {name: max(MIN_SIZES[name], round(full * scale)) for name, full in FULL_SIZES.items()}


@dataclass(frozen=True)
class Options:
    """What a workload needs to know beyond its size."""

    timeout: float
    """Seconds a workload may wait for its workflows before it fails."""
    scale: float = 1.0
    """The run's scale (1.0: full size), for workloads with counts of their own."""
    start_concurrency: int = START_CONCURRENCY
    """Start calls in flight at once."""


async def start_many(
    session: Session, workflow: Callable[..., Any], ids: list[str], arg: Any, concurrency: int
) -> None:
    """Start a workflow per id, ``concurrency`` calls at a time; the first failure cancels
    the rest."""
    gate = asyncio.Semaphore(concurrency)

    async def start(workflow_id: str) -> None:
        async with gate:
            await session.client.start_workflow(
                workflow, arg, id=workflow_id, task_queue=session.task_queue
            )

    async with asyncio.TaskGroup() as group:
        for workflow_id in ids:
            group.create_task(start(workflow_id))


async def _throughput(
    session: Session,
    workflow: Callable[..., Any],
    arg: Any,
    *,
    count: int,
    warmup: int,
    options: Options,
) -> dict[str, Any]:
    """Start ``count`` workflows at once and measure them (after ``warmup`` unmeasured)."""
    warm = f"{session.token}-w-"
    concurrency = options.start_concurrency
    await start_many(session, workflow, [f"{warm}{i}" for i in range(warmup)], arg, concurrency)
    await session.wait_closed(warm, warmup, options.timeout)
    session.units_total += warmup

    prefix = f"{session.token}-m-"
    ids = [f"{prefix}{i}" for i in range(count)]
    session.mark_start()
    began = datetime.now(UTC)
    clock = time.perf_counter()
    await start_many(session, workflow, ids, arg, concurrency)
    start_seconds = time.perf_counter() - clock
    await session.wait_closed(prefix, count, options.timeout)
    observed_seconds = time.perf_counter() - clock
    session.units_total += count
    await session.mark_end(count)

    times = await session.run_times(prefix, count)
    closed = [t for t in times if t.closed_at is not None]
    completed = [t for t in closed if t.state == "completed"]
    latencies = [(t.closed_at - t.requested_at).total_seconds() for t in closed if t.closed_at]
    last_close = max((t.closed_at for t in closed if t.closed_at), default=None)
    span = (last_close - began).total_seconds() if last_close else observed_seconds
    return {
        "kind": "throughput",
        "units": count,
        "completed": len(completed),
        "failed": len(closed) - len(completed),
        "missing": count - len(closed),
        "seconds": span,
        "start_seconds": start_seconds,
        "observed_seconds": observed_seconds,
        "throughput_per_s": len(completed) / span if span > 0 else None,
        "start_concurrency": concurrency,
        **latency_summary(latencies),
    }


async def one_activity(
    target: Target, count: int, options: Options, *, workers: int | None = None
) -> dict[str, Any]:
    """``count`` workflows of one activity each, started at once (on ``workers`` worker
    processes; the target's count when None)."""
    async with target.session("one_activity", workers=workers) as session:
        warmup = 4 * max(1, len(session.workers))
        result = await _throughput(
            session, OneActivity.run, 1, count=count, warmup=warmup, options=options
        )
    return {**result, **session.stats()}


async def sequential(target: Target, count: int, options: Options) -> dict[str, Any]:
    """``count`` workflows of ten sequential activities each, started at once."""
    async with target.session("sequential") as session:
        warmup = 2 * max(1, len(session.workers))
        result = await _throughput(
            session, Sequential.run, SEQUENTIAL_STEPS, count=count, warmup=warmup, options=options
        )
    return {**result, "activities_per_workflow": SEQUENTIAL_STEPS, **session.stats()}


async def fan_out(target: Target, count: int, options: Options) -> dict[str, Any]:
    """``count`` workflows that each run 50 activities at once, started at once."""
    async with target.session("fan_out") as session:
        warmup = max(1, len(session.workers))
        result = await _throughput(
            session, FanOut.run, FAN_OUT_WIDTH, count=count, warmup=warmup, options=options
        )
    return {**result, "activities_per_workflow": FAN_OUT_WIDTH, **session.stats()}


async def signal(target: Target, count: int, options: Options) -> dict[str, Any]:
    """Signal round trips on one running workflow: signal sent -> the workflow reacts by
    scheduling ``ping`` -> the ping arrives here. One at a time."""
    async with Pings() as pings, target.session("signal") as session:
        handle = await session.client.start_workflow(
            Echo.run, pings.address, id=f"{session.token}-echo", task_queue=session.task_queue
        )

        async def round_trip(tag: str) -> float:
            clock = time.perf_counter()
            await handle.signal(Echo.echo, tag)
            return await pings.wait(tag, PING_TIMEOUT) - clock

        for i in range(2):
            await round_trip(f"warm-{i}")
        session.units_total += 2
        session.mark_start()
        latencies = [await round_trip(f"m-{i}") for i in range(count)]
        session.units_total += count
        await session.mark_end(count)
        await handle.signal(Echo.finish)
        answered = await asyncio.wait_for(handle.result(), options.timeout)
    return {
        "kind": "latency",
        "units": count,
        "completed": len(latencies),
        "answered": answered,
        **latency_summary(latencies),
        **session.stats(),
    }


async def idle(target: Target, count: int, options: Options) -> dict[str, Any]:
    """Idle pick-up: after a quiet gap, start a workflow and time until its first
    activity starts on a worker (the ping arrives here). One at a time."""
    rng = random.Random(7)
    async with Pings() as pings, target.session("idle") as session:

        async def sample(workflow_id: str) -> float:
            await asyncio.sleep(rng.uniform(*IDLE_GAP))
            clock = time.perf_counter()
            await session.client.start_workflow(
                Pickup.run,
                args=[pings.address, workflow_id],
                id=workflow_id,
                task_queue=session.task_queue,
            )
            return await pings.wait(workflow_id, PING_TIMEOUT) - clock

        await sample(f"{session.token}-w-0")
        session.units_total += 1
        session.mark_start()
        prefix = f"{session.token}-m-"
        latencies = [await sample(f"{prefix}{i}") for i in range(count)]
        session.units_total += count
        await session.mark_end(count)
        await session.wait_closed(prefix, count, options.timeout)
    return {
        "kind": "latency",
        "units": count,
        "completed": len(latencies),
        "idle_gap_s": list(IDLE_GAP),
        **latency_summary(latencies),
        **session.stats(),
    }


async def claim(target: Target, count: int, options: Options) -> dict[str, Any]:
    """Claim latency with ``count`` finished runs in the tables vs none (internal only)."""
    if not target.internal:
        return {"kind": "claim", "skipped": "internal executors only"}
    from benchmarks.history import claim_benchmark

    return await claim_benchmark(target, count, options.timeout, scale=options.scale)


Workload = Callable[[Target, int, Options], Awaitable[dict[str, Any]]]

WORKLOADS: dict[str, Workload] = {
    "one_activity": one_activity,
    "sequential": sequential,
    "fan_out": fan_out,
    "signal": signal,
    "idle": idle,
    "claim": claim,
}
"""Every workload by name, in the order a run goes through them."""
