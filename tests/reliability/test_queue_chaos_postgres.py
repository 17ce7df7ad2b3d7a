"""The queue chaos suite, PostgreSQL faults: restarts, stops and killed backends.

- ``postgres_restart``: a fast restart, an immediate restart (crash recovery) and a
  stop of a few seconds, one after the other, under three workers. test_outage.py
  restarts the server while a client keeps starting workflows; this one repeats the
  fault kinds and measures the recovery after each.
- ``pg_backend_kill``: every backend of the database (the workers' pools, their
  ``LISTEN`` connections, the client's) terminated with ``pg_terminate_backend``,
  several times during a drain.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
import pytest

from tests.reliability.chaos_drain import FIGURES, Drain, Factory, ms, until_activities
from tests.reliability.chaos_drain import drain_factory as drain_factory  # the fixture
from turnout.executors.internal.store.postgres import libpq_url
from turnout.testing import LocalPostgres

# --------------------------------------------------------------------------- PostgreSQL faults

FAULT_RUNS = 200
"""Workflows started at least in the PostgreSQL fault scenarios; more while faults remain."""
FAULT_STEPS = 3
FAULT_IN_FLIGHT = 60
FAULT_EVERY = 60
"""Activities completed between two faults, at least."""
OUTAGE = 3.0
"""Seconds the server stays stopped in the stop scenario (the outage's length, not a wait)."""


async def _under_faults(
    drain: Drain, faults: Sequence[tuple[str, Callable[[], Awaitable[None]]]]
) -> list[tuple[str, float]]:
    """Inject each fault after ``FAULT_EVERY`` more activities, under a steady load from
    the client; after each, wait for work to go on (the seconds it took, from the end of
    the fault). Then drain and check exactly-once."""
    going = asyncio.Event()
    going.set()
    producer = asyncio.create_task(
        drain.keep_busy(going, FAULT_STEPS, at_least=FAULT_RUNS, in_flight=FAULT_IN_FLIGHT)
    )
    recoveries: list[tuple[str, float]] = []
    try:
        done = 0
        for name, fault in faults:
            await until_activities(drain, done + FAULT_EVERY)
            await fault()
            ended = time.monotonic()
            done = await drain.activities_done()
            await drain.progress_beyond(done, f"work resumed after {name}")
            recoveries.append((name, time.monotonic() - ended))
        going.clear()
        await producer
    finally:
        producer.cancel()
    await drain.drained()
    await drain.assert_exactly_once()
    return recoveries


def _recoveries(recoveries: list[tuple[str, float]]) -> str:
    return "; ".join(f"{name}: work went on {ms(seconds)} after" for name, seconds in recoveries)


@pytest.mark.postgres
@pytest.mark.timeout(240)
async def test_chaos_postgres_restart(own_postgres: LocalPostgres, drain_factory: Factory) -> None:
    """A fast restart, an immediate restart (crash recovery) and a stop of ``OUTAGE``
    seconds, under three workers and a client starting workflows."""
    drain = await drain_factory(own_postgres.admin_url, "postgres-restart")
    await asyncio.gather(*(drain.add_worker() for _ in range(3)))

    async def restart(mode: Any) -> None:
        await asyncio.to_thread(own_postgres.restart, mode=mode)

    async def stop() -> None:
        await asyncio.to_thread(own_postgres.pause)
        await asyncio.sleep(OUTAGE)
        await asyncio.to_thread(own_postgres.resume)

    recoveries = await _under_faults(
        drain,
        [
            ("fast restart", lambda: restart("fast")),
            ("immediate restart", lambda: restart("immediate")),
            (f"{OUTAGE:.0f} s stop", stop),
        ],
    )
    drain.check_workers()
    FIGURES.append(
        f"postgres_restart: {len(drain.handles)} {FAULT_STEPS}-activity workflows, 3 workers; "
        f"{_recoveries(recoveries)}; client calls retried: {sum(drain.client_errors.values())}"
    )


BACKEND_KILLS = 4


@pytest.mark.postgres
@pytest.mark.timeout(240)
async def test_chaos_pg_backend_kill(postgres_url: str, drain_factory: Factory) -> None:
    """Every backend of the database (workers' pools and LISTEN connections, the client's
    pool) terminated ``BACKEND_KILLS`` times during a drain."""
    drain = await drain_factory(postgres_url, "pg-backend-kill")
    await asyncio.gather(*(drain.add_worker() for _ in range(3)))
    terminated: list[int] = []

    async def terminate_all() -> None:
        async with await psycopg.AsyncConnection.connect(
            libpq_url(postgres_url), autocommit=True
        ) as admin:
            cursor = await admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            row = await cursor.fetchone()
            assert row is not None
            terminated.append(int(row[0]))

    recoveries = await _under_faults(
        drain, [(f"backend kill {n + 1}", terminate_all) for n in range(BACKEND_KILLS)]
    )
    drain.check_workers()
    assert min(terminated) > 3, terminated  # each kill cut the workers' sessions at least
    FIGURES.append(
        f"pg_backend_kill: {len(drain.handles)} {FAULT_STEPS}-activity workflows, 3 workers; "
        f"backends terminated per kill {terminated}; {_recoveries(recoveries)}; "
        f"client calls retried: {sum(drain.client_errors.values())}"
    )
