"""The queue chaos suite, pool exhaustion: more client operations than connections.

- ``pool_exhaustion``: far more concurrent client operations than the client's pool
  holds, while on PostgreSQL other sessions take all but a few of ``max_connections``
  (the workers' pools and the client cannot have the connections they would open); on
  SQLite the same load with every process competing for the one write lock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from tests.reliability.chaos_drain import (
    FIGURES,
    WAIT,
    Drain,
    Factory,
    expected_result,
    ms,
    run_keys,
)
from tests.reliability.chaos_drain import drain_factory as drain_factory  # the fixture
from turnout.executors.internal.schema import queue_items
from turnout.testing import LocalPostgres, ServerError
from turnout.testing.servers import REQUIRE_POSTGRES_ENV, env_flag


def _local_postgres(settings: dict[str, str]) -> Iterator[LocalPostgres]:
    try:
        server = LocalPostgres(settings={"synchronous_commit": "on", **settings}).start()
    except ServerError as exc:
        if env_flag(REQUIRE_POSTGRES_ENV):
            pytest.fail(f"a local PostgreSQL cluster is needed: {exc}", pytrace=False)
        pytest.skip(f"a local PostgreSQL cluster is needed: {exc}")
    try:
        yield server
    finally:
        server.stop()


MAX_CONNECTIONS = 30
"""``max_connections`` of the pool-exhaustion cluster."""
FREE_CONNECTIONS = 8
"""Connection slots the other sessions leave to turnout in the pool-exhaustion scenario:
fewer than the three workers' and the client's pools (10 each) and ``LISTEN`` connections
would open under load."""


@pytest.fixture
def small_postgres() -> Iterator[LocalPostgres]:
    """A cluster of this test's own with few connection slots (``MAX_CONNECTIONS``)."""
    yield from _local_postgres({"max_connections": str(MAX_CONNECTIONS)})


# --------------------------------------------------------------------------- pool exhaustion

POOL_RUNS = 300
"""Workflows started at once, and waited on at once, by one client: 30 times its pool."""
POOL_STEPS = 2
POOL_WAIT = 90.0
"""Seconds the PostgreSQL form may take (SQLite's takes a few; a stall, not a timing)."""
CLEAR_ERRORS = (
    "too many clients already",
    "remaining connection slots are reserved",
    "database is locked",
    # An attempt whose result waited for a connection past its timeout was retried
    # elsewhere; its late result is refused, and the line says so.
    "rejected: the lease was lost",
)
"""What a refused or contended connection says; every error a client call or a worker
logs in the pool-exhaustion scenario must say one of these."""


def _error_lines(output: str) -> list[str]:
    return [
        line
        for line in output.splitlines()
        if "WARNING" in line or "ERROR" in line or "Traceback" in line
    ]


async def _exhaust(drain: Drain) -> dict[str, float]:
    """``POOL_RUNS`` starts at once, then ``POOL_RUNS`` result waits at once."""
    keys = run_keys(drain, POOL_RUNS)
    began = time.monotonic()
    await drain.start(keys, POOL_STEPS, at_once=POOL_RUNS)
    started = time.monotonic() - began
    results = await asyncio.gather(
        *(
            drain.retried(
                lambda key=key: drain.handles[key].result(timeout=timedelta(seconds=WAIT))
            )
            for key in keys
        )
    )
    assert results == [expected_result(key, POOL_STEPS) for key in keys]
    finished = time.monotonic() - began
    await drain.drained()
    return {"started": started, "finished": finished}


def _assert_clear(drain: Drain) -> list[str]:
    """Every error the client met and every warning the workers logged names its cause;
    the distinct ones."""
    seen = [*drain.client_errors]
    for worker in drain.workers:
        seen += _error_lines(worker.output())
    unclear = [line for line in seen if not any(c in line for c in CLEAR_ERRORS)]
    assert unclear == [], unclear
    return sorted({next(c for c in CLEAR_ERRORS if c in line) for line in seen})


@pytest.mark.postgres
@pytest.mark.timeout(240)
async def test_chaos_pool_exhaustion_postgres(
    small_postgres: LocalPostgres, drain_factory: Factory
) -> None:
    """Other sessions hold all but ``FREE_CONNECTIONS`` of ``max_connections`` while
    three workers and a client with ``POOL_RUNS`` calls at once want many more."""
    url = small_postgres.admin_url
    drain = await drain_factory(url, "pool-exhaustion")
    await asyncio.gather(*(drain.add_worker() for _ in range(3)))
    hogs: list[psycopg.AsyncConnection[Any]] = []
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as probe:
            cursor = await probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
            )
            row = await cursor.fetchone()
            assert row is not None
            in_use = int(row[0])
        for _ in range(MAX_CONNECTIONS - in_use - FREE_CONNECTIONS):
            hogs.append(await psycopg.AsyncConnection.connect(url, autocommit=True))
        try:
            async with asyncio.timeout(POOL_WAIT):
                figures = await _exhaust(drain)
        except TimeoutError:
            for hog in hogs:
                await hog.close()
            hogs.clear()
            queue = await drain.read(
                select(queue_items.c.kind, queue_items.c.state, func.count()).group_by(
                    queue_items.c.kind, queue_items.c.state
                )
            )
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as probe:
                cursor = await probe.execute(
                    "SELECT state, count(*), max(left(query, 160)), max(now() - xact_start) "
                    "FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' GROUP BY state"
                )
                sessions = await cursor.fetchall()
            raise AssertionError(
                f"queue {[tuple(r) for r in queue]}, sessions {sessions}; "
                f"not done within {POOL_WAIT} s: {len(drain.handles)} started, "
                f"{await drain.runs_done()} completed, client errors {dict(drain.client_errors)}"
                f"\n{drain.outputs()}"
            ) from None
    finally:
        held = len(hogs)
        for hog in hogs:
            await hog.close()
    # Checked once the other sessions let go: the checks' own reads need a connection.
    await drain.assert_exactly_once()
    drain.check_workers()
    causes = _assert_clear(drain)
    FIGURES.append(
        f"pool_exhaustion[postgresql]: max_connections {MAX_CONNECTIONS}, {held} held by "
        f"other sessions, {in_use} turnout sessions open before; {POOL_RUNS} "
        f"{POOL_STEPS}-activity workflows started at once in {ms(figures['started'])}, "
        f"all completed after {ms(figures['finished'])}; client calls retried "
        f"{sum(drain.client_errors.values())} times; errors seen: {causes or 'none'}"
    )


async def test_chaos_pool_exhaustion_sqlite(sqlite_url: str, drain_factory: Factory) -> None:
    """The SQLite equivalent: ``POOL_RUNS`` client calls at once (the client's pool holds
    15 connections), three worker processes, one write lock for all of them."""
    drain = await drain_factory(sqlite_url, "pool-exhaustion")
    await asyncio.gather(*(drain.add_worker() for _ in range(3)))
    figures = await _exhaust(drain)
    await drain.assert_exactly_once()
    drain.check_workers()
    causes = _assert_clear(drain)
    FIGURES.append(
        f"pool_exhaustion[sqlite]: {POOL_RUNS} {POOL_STEPS}-activity workflows started at "
        f"once in {ms(figures['started'])}, all completed after {ms(figures['finished'])}; "
        f"client calls retried {sum(drain.client_errors.values())} times; errors seen: "
        f"{causes or 'none'}"
    )
