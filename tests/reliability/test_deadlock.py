"""Workflow code that never yields: caught, reported where it loops, and harmless to the rest.

Before the watchdog, a ``while True`` in workflow code froze the worker's event loop:
no claim, no lease renewal, no health answer, and the next worker to adopt the task
froze too. Now the code runs on a thread of its own; after ``deadlock_timeout`` with no
progress its task fails with the file and line it was at, the thread is interrupted and
replaced, other runs go on, and after ``DEADLOCK_ATTEMPTS`` failures in a row the task
is dead-lettered and waits for an operator.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

import turnout
from turnout import EventType, RunState, activity, workflow
from turnout.executors.internal.worker import DEADLOCK_ATTEMPTS
from turnout.observability.health import readiness, serve_health

Q = "deadlock"
WAIT = 60.0
"""Seconds any wait of this module may take before the test fails (never a timing check)."""
SPINNING = threading.Event()
"""Set by the spinning workflow's code once it is in its loop."""
RELEASE = threading.Event()
"""Set at the end of a test: lets code that swallowed the interrupt out of its loop."""


@activity.defn
async def ping(n: int) -> int:
    return n + 1


@workflow.defn
class Quick:
    @workflow.run
    async def run(self, n: int) -> int:
        result: int = await workflow.execute_activity(
            ping, n, start_to_close_timeout=timedelta(seconds=30)
        )
        return result


def _spin() -> None:
    SPINNING.set()
    while not RELEASE.is_set():  # the loop the deadlock is reported at
        pass


SPIN_LINE = _spin.__code__.co_firstlineno + 2


@workflow.defn
class Spinner:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(milliseconds=1))
        _spin()


@workflow.defn
class Stubborn:
    """Swallows the interrupt the watchdog raises in it, so its thread stays stuck."""

    @workflow.run
    async def run(self) -> None:
        SPINNING.set()
        while not RELEASE.is_set():
            try:
                while not RELEASE.is_set():
                    pass
            except BaseException:
                continue


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def deadlock_client(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    SPINNING.clear()
    RELEASE.clear()
    client = await turnout.connect(executor="internal", database_url=url)
    try:
        yield client
    finally:
        RELEASE.set()
        await client.close()


def _worker(client: Any) -> turnout.Worker:
    return turnout.Worker(
        client,
        task_queue=Q,
        workflows=[Quick, Spinner, Stubborn],
        activities=[ping],
        deadlock_timeout=timedelta(milliseconds=300),
    )


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _wait_for(handle: Any, found: Callable[[list[turnout.Event]], bool]) -> list[Any]:
    async with asyncio.timeout(WAIT):
        while True:
            events = await handle.events()
            if found(events):
                return list(events)
            await asyncio.sleep(0.05)


async def _stuck_transactions(client: Any) -> list[str]:
    """PostgreSQL sessions idle in a transaction for more than a second (none on SQLite)."""
    if not client.store.url.startswith("postgresql"):
        return []
    async with client.store.reader.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT left(query, 80) FROM pg_stat_activity "
                "WHERE datname = current_database() AND state = 'idle in transaction' "
                "AND now() - state_change > interval '1 second'"
            )
        )
        return [row[0] for row in rows]


async def _get(port: int, path: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer.decode()


async def test_code_that_never_yields_fails_its_task_and_other_runs_go_on(
    deadlock_client: Any,
) -> None:
    client = deadlock_client
    async with _worker(client) as worker:
        health = await serve_health([worker], port=0)
        try:
            spinner = await client.start_workflow(Spinner.run, id=_id("spin"), task_queue=Q)
            assert await asyncio.to_thread(SPINNING.wait, WAIT)
            # While the workflow code loops, the worker's loop answers and works.
            assert " 200 " in (await _get(health.port, "/healthz")).splitlines()[0]
            quick = [
                await client.start_workflow(Quick.run, n, id=_id("quick"), task_queue=Q)
                for n in range(10)
            ]
            results = [await h.result(timeout=timedelta(seconds=WAIT)) for h in quick]
            assert results == [n + 1 for n in range(10)]
            # No session of the worker sits in a transaction the frozen loop never ends.
            assert await _stuck_transactions(client) == []

            def failed_by_deadlock(events: list[turnout.Event]) -> bool:
                return any(
                    e.type is EventType.WORKFLOW_TASK_FAILED
                    and e.attributes["failure"].get("type") == "DeadlockError"
                    for e in events
                )

            events = await _wait_for(spinner, failed_by_deadlock)
            failure = next(
                e.attributes["failure"] for e in events if e.type is EventType.WORKFLOW_TASK_FAILED
            )
            assert f"without yielding at {__file__}:{SPIN_LINE}" in failure["message"]
            # The interrupted thread was freed: nothing is stuck, and health tells of it.
            assert (await readiness(worker)).checks["workflow code"] == "ok"
            ready = await _get(health.port, "/readyz")
            body = json.loads(ready.split("\r\n\r\n", 1)[1])
            (entry,) = body["workers"]
            assert entry["deadlocks"]["count"] >= 1
            assert f"{__file__}:{SPIN_LINE}" in entry["deadlocks"]["last"]

            # It keeps deadlocking: after DEADLOCK_ATTEMPTS in a row it is dead-lettered.
            events = await _wait_for(
                spinner, lambda evs: any(e.type is EventType.DEAD_LETTERED for e in evs)
            )
            deadlocks = [
                e
                for e in events
                if e.type is EventType.WORKFLOW_TASK_FAILED
                and e.attributes["failure"].get("type") == "DeadlockError"
            ]
            assert [e.attributes["attempt"] for e in deadlocks] == list(
                range(1, DEADLOCK_ATTEMPTS + 1)
            )
            dead = next(e for e in events if e.type is EventType.DEAD_LETTERED)
            assert dead.attributes["kind"] == "workflow_task"
            assert "without yielding" in dead.attributes["reason"]
            # The run stays open for an operator, who can end it.
            assert (await spinner.describe()).state is RunState.RUNNING
            await spinner.terminate("deadlocked")
            assert (await spinner.describe()).state is RunState.TERMINATED
        finally:
            await health.close()


async def test_code_that_swallows_the_interrupt_is_reported_stuck(deadlock_client: Any) -> None:
    client = deadlock_client
    async with _worker(client) as worker:
        stubborn = await client.start_workflow(Stubborn.run, id=_id("stubborn"), task_queue=Q)
        assert await asyncio.to_thread(SPINNING.wait, WAIT)
        await _wait_for(
            stubborn,
            lambda evs: any(e.type is EventType.WORKFLOW_TASK_FAILED for e in evs),
        )
        # Its thread is lost, but a fresh one serves the other runs.
        quick = await client.start_workflow(Quick.run, 41, id=_id("quick"), task_queue=Q)
        assert await quick.result(timeout=timedelta(seconds=WAIT)) == 42
        verdict = await readiness(worker)
        assert not verdict.ready
        assert "did not yield" in verdict.checks["workflow code"]
        await stubborn.terminate("stuck")
        RELEASE.set()
