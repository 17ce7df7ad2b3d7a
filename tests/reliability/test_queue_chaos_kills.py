"""The queue chaos suite, worker kills: every worker at once, and one again and again.

- ``crash_recovery``: every worker process SIGKILLed at once mid-drain, a new fleet
  started; test_crashes.py places single kills precisely (mid-activity, mid-task,
  mid-commit), this one kills everything that runs.
- ``repeated_kills``: one of three workers SIGKILLed (and replaced) again and again
  while they drain a few hundred workflows.

What every chaos scenario asserts, and how its figures are printed, is said in
chaos_drain.py and docs/operations.md ("Chaos suite").
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from typing import TYPE_CHECKING

from tests.reliability.chaos_drain import (
    FIGURES,
    Factory,
    leases_taken_over,
    ms,
    run_keys,
    until_activities,
)
from tests.reliability.chaos_drain import database_url as database_url  # the fixture
from tests.reliability.chaos_drain import drain_factory as drain_factory  # the fixture

if TYPE_CHECKING:
    from tests.reliability.conftest import CrashWorkerProcess

# --------------------------------------------------------------------------- crashes

CRASH_RUNS = 200
CRASH_STEPS = 3


async def test_chaos_crash_recovery(database_url: str, drain_factory: Factory) -> None:
    """Every worker SIGKILLed at once mid-drain; a new fleet finishes the work."""
    drain = await drain_factory(database_url, "crash-recovery")
    await drain.start(run_keys(drain, CRASH_RUNS), CRASH_STEPS)
    await asyncio.gather(*(drain.add_worker() for _ in range(3)))
    await until_activities(drain, CRASH_RUNS * CRASH_STEPS // 4)

    dead = list(drain.workers)
    await asyncio.gather(*(drain.kill(worker) for worker in dead))
    killed = time.monotonic()
    done = await drain.activities_done()
    held = [await drain.leased_by(w.identity) for w in dead]
    await asyncio.gather(*(drain.add_worker() for _ in range(3)))
    restarted = time.monotonic() - killed
    await drain.progress_beyond(done, "work resumed after the crash")
    resumed = time.monotonic() - killed
    await leases_taken_over(drain, dead)
    taken_over = time.monotonic() - killed
    await drain.drained()
    drained = time.monotonic() - killed
    await drain.assert_exactly_once()
    assert done < CRASH_RUNS * CRASH_STEPS, "the drain ended before the crash"
    FIGURES.append(
        f"crash_recovery[{drain.dialect}]: 3 workers SIGKILLed after {done} of "
        f"{CRASH_RUNS * CRASH_STEPS} activities, holding {sum(held)} leases; new fleet "
        f"ready after {ms(restarted)}, first activity after {ms(resumed)}, dead leases "
        f"taken over after {ms(taken_over)}, drained after {ms(drained)}"
    )


KILLS = 10
KILL_RUNS = 300
"""Workflows started at least; more while kills remain."""
KILL_STEPS = 3
KILL_IN_FLIGHT = 60
"""Workflows the client keeps open while the kills go on."""
KILL_EVERY = 30
"""Activities completed between two kills, at least."""
KILL_SEED = 20261219


async def test_chaos_repeated_kills(database_url: str, drain_factory: Factory) -> None:
    """One of three workers SIGKILLed ``KILLS`` times (after ``KILL_EVERY`` activities
    each time), a replacement started at once (it joins when ready), while a client keeps
    ``KILL_IN_FLIGHT`` workflows open; then the drain of at least ``KILL_RUNS``."""
    drain = await drain_factory(database_url, "repeated-kills")
    await asyncio.gather(*(drain.add_worker() for _ in range(3)))
    rng = random.Random(KILL_SEED)
    replacements: list[asyncio.Task[CrashWorkerProcess]] = []
    resumed: list[asyncio.Task[float]] = []
    takeovers: list[asyncio.Task[float]] = []
    killing = asyncio.Event()
    killing.set()

    async def resumed_after(done: int, killed: float, n: int) -> float:
        await drain.progress_beyond(done, f"work resumed after kill {n}")
        return time.monotonic() - killed

    async def taken_over(victim: CrashWorkerProcess, killed: float) -> float:
        await leases_taken_over(drain, [victim])
        return time.monotonic() - killed

    producer = asyncio.create_task(
        drain.keep_busy(killing, KILL_STEPS, at_least=KILL_RUNS, in_flight=KILL_IN_FLIGHT)
    )
    done = 0
    try:
        while len(drain.killed) < KILLS:
            await until_activities(drain, done + KILL_EVERY)
            while len(drain.workers) < 2:  # never kill the last one standing
                await replacements.pop(0)
            victim = rng.choice(drain.workers)
            await drain.kill(victim)
            killed = time.monotonic()
            done = await drain.activities_done()
            n = len(drain.killed)
            takeovers.append(asyncio.create_task(taken_over(victim, killed)))
            resumed.append(asyncio.create_task(resumed_after(done, killed, n)))
            replacements.append(asyncio.create_task(drain.add_worker()))
        killing.clear()
        await producer
        await asyncio.gather(*replacements)
        await drain.drained()
        resumed_s = [await task for task in resumed]
        taken_over_s = [await task for task in takeovers]
    finally:
        for task in [producer, *replacements, *resumed, *takeovers]:
            task.cancel()
    await drain.assert_exactly_once()
    FIGURES.append(
        f"repeated_kills[{drain.dialect}]: {len(drain.killed)} SIGKILLs over "
        f"{len(drain.handles)} {KILL_STEPS}-activity workflows; work went on after each "
        f"kill within {ms(max(resumed_s))} (median {ms(statistics.median(resumed_s))}); "
        f"the dead worker's leases taken over in {ms(min(taken_over_s))}.."
        f"{ms(max(taken_over_s))} (median {ms(statistics.median(taken_over_s))})"
    )
