"""The harness of the queue chaos suite (``test_queue_chaos_*.py``).

:class:`ChaosDrainWorkflow` and its activity (which the worker processes import from
here), :class:`Drain` (a client, a fleet of worker processes and the database's view,
with the exactly-once verdict), the ``database_url`` and ``drain_factory`` fixtures the
test modules import, and the waits they share. The scenarios and what they assert are
described in the test modules.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import turnout
from turnout import RetryPolicy, RunState, TurnoutError, activity, workflow
from turnout.executors.internal.migrate import sqlalchemy_url
from turnout.executors.internal.schema import events, queue_items, runs

if TYPE_CHECKING:
    from tests.reliability.conftest import CrashWorkerProcess, CrashWorkers

MODULE = __name__
LEASE = 2.0
"""Workflow-task lease of the workers (seconds): a dead worker's task is taken up after it."""
STEP_TIMEOUT = timedelta(seconds=3)
"""Start-to-close timeout of the activities: a dead worker's activity is retried after it."""
STEP_WORK = 0.02
"""Seconds each activity works (waits): a killed worker holds the leases of what it ran."""
WAIT = 60.0
"""Seconds any one wait of a scenario may take before it fails (a hang, never a timing);
less when the test's own time limit comes sooner (see :meth:`Drain.budget`)."""
MARGIN = 20.0
"""Seconds kept before the test's time limit for a failed wait to say why."""
START_ERRORS = (DBAPIError, OSError, TurnoutError)
"""What a client call may raise while the database is out of reach or refuses connections;
the client retries those (with the same idempotency key), anything else fails the test."""
LIVE = ("queued", "claimed", "running")
FINISHED = ("completed", "failed", "canceled")


FIGURES: list[str] = []
"""What the scenarios measured; printed at the end of each test."""


# --------------------------------------------------------------------------- workflows


@activity.defn
async def chaos_step(key: str, step: int) -> str:
    await asyncio.sleep(STEP_WORK)
    return f"{key}/{step}"


@workflow.defn
class ChaosDrainWorkflow:
    """``steps`` activities one after the other, then an optional short timer."""

    @workflow.run
    async def run(self, key: str, steps: int, nap_ms: int = 0) -> list[str]:
        done: list[str] = []
        for step in range(steps):
            done.append(
                await workflow.execute_activity(
                    chaos_step,
                    args=[key, step],
                    start_to_close_timeout=STEP_TIMEOUT,
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(milliseconds=100), backoff_coefficient=1.0
                    ),
                )
            )
        if nap_ms:
            await workflow.sleep(timedelta(milliseconds=nap_ms))
        return done


def expected_result(key: str, steps: int) -> list[str]:
    return [f"{key}/{step}" for step in range(steps)]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


# --------------------------------------------------------------------------- the harness


def ms(seconds: float) -> str:
    """Seconds as milliseconds, for the figures."""
    return f"{seconds * 1000:.0f} ms"


class Drain:
    """A client, a fleet of worker processes on one task queue, and the database's view.

    Each scenario has a database of its own, so counts over whole tables are its own.
    """

    def __init__(
        self,
        client: Any,
        database_url: str,
        crash_workers: CrashWorkers,
        name: str,
        deadline: float = float("inf"),
    ) -> None:
        self.deadline = deadline
        """When (``time.monotonic``) the test's time limit runs out."""
        self.client = client
        self.store = client.store
        self.url = database_url
        self.crash_workers = crash_workers
        self.queue = f"{name}-{uuid.uuid4().hex[:6]}"
        self.workers: list[CrashWorkerProcess] = []
        self.killed: list[CrashWorkerProcess] = []
        self.handles: dict[str, Any] = {}
        self.steps: dict[str, int] = {}
        self.client_errors: Counter[str] = Counter()

    def budget(self) -> float:
        """Seconds the next wait may take: :data:`WAIT`, or what is left before the
        test's time limit (less :data:`MARGIN`), so that a hang fails the wait, which
        says why, and not the test's timeout, which cannot."""
        return max(1.0, min(WAIT, self.deadline - MARGIN - time.monotonic()))

    @property
    def dialect(self) -> str:
        return str(self.store.dialect)

    # -- workers

    async def add_worker(self, **options: Any) -> CrashWorkerProcess:
        worker = await self.crash_workers(
            database_url=self.url,
            task_queue=self.queue,
            modules=[f"{MODULE}:ChaosDrainWorkflow", f"{MODULE}:chaos_step"],
            workflow_task_lease=LEASE,
            **options,
        )
        self.workers.append(worker)
        return worker

    async def kill(self, worker: CrashWorkerProcess) -> None:
        """SIGKILL ``worker`` (out of the fleet first: waits running meanwhile must not
        take its death for a crash)."""
        self.workers.remove(worker)
        self.killed.append(worker)
        await worker.kill()

    def check_workers(self) -> None:
        for worker in self.workers:
            assert worker.running, f"{worker!r} exited by itself:\n{worker.output()}"

    def outputs(self) -> str:
        return "\n".join(f"--- {w!r}\n{w.output()}" for w in [*self.workers, *self.killed])

    # -- the client

    async def start(self, keys: Sequence[str], steps: int, *, at_once: int = 16) -> None:
        """Start one workflow per key, ``at_once`` starts in flight; a start that fails
        while the database misbehaves is retried with the same idempotency key."""
        gate = asyncio.Semaphore(at_once)

        async def one(key: str) -> None:
            async with gate:
                self.handles[key] = await self.retried(
                    lambda: self.client.start_workflow(
                        ChaosDrainWorkflow.run,
                        args=[key, steps],
                        id=key,
                        task_queue=self.queue,
                        idempotency_key=key,
                    )
                )
                self.steps[key] = steps

        await asyncio.gather(*(one(key) for key in keys))

    async def keep_busy(
        self, going: asyncio.Event, steps: int, *, at_least: int, in_flight: int
    ) -> None:
        """Start workflows 20 at a time, keeping ``in_flight`` open, while ``going`` is set
        and until ``at_least`` were started."""
        started = 0
        while going.is_set() or started < at_least:
            batch = [f"{self.queue}-{i:05d}" for i in range(started, started + 20)]
            await self.start(batch, steps)
            started += len(batch)

            async def room(started: int = started) -> bool:
                return started - await self.runs_done() < in_flight

            await self.until("room for more workflows", room)

    async def retried(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """``call()``, again after each error of :data:`START_ERRORS` (counted by message)."""
        async with asyncio.timeout(self.budget()):
            while True:
                try:
                    return await call()
                except START_ERRORS as exc:
                    self.client_errors[_first_line(exc)] += 1
                    await asyncio.sleep(0.05)

    # -- the database

    async def read(self, statement: Any) -> list[Any]:
        """Run a read, again while the database is out of reach."""
        async with asyncio.timeout(self.budget()):
            while True:
                try:
                    async with self.store.reader.connect() as conn:
                        return list((await conn.execute(statement)).all())
                except (DBAPIError, OSError):
                    await asyncio.sleep(0.05)

    async def scalar(self, statement: Any) -> Any:
        return (await self.read(statement))[0][0]

    async def activities_done(self) -> int:
        return int(
            await self.scalar(
                select(func.count())
                .select_from(events)
                .where(events.c.type == "activity_completed")
            )
        )

    async def runs_done(self) -> int:
        return int(
            await self.scalar(
                select(func.count())
                .select_from(runs)
                .where(runs.c.state == RunState.COMPLETED.value)
            )
        )

    async def leased_by(self, identity: str) -> int:
        return int(
            await self.scalar(
                select(func.count())
                .select_from(queue_items)
                .where(queue_items.c.lease_owner == identity, queue_items.c.state.in_(LIVE))
            )
        )

    async def until(self, what: str, condition: Callable[[], Awaitable[bool]]) -> float:
        """Poll ``condition`` until it holds (bounded); the seconds it took."""
        began = time.monotonic()
        budget = self.budget()
        try:
            async with asyncio.timeout(budget):
                while not await condition():
                    self.check_workers()
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(
                f"{what}: not within {budget:.0f} s\n{await self.queue_view()}\n{self.outputs()}"
            ) from None
        return time.monotonic() - began

    async def queue_view(self) -> str:
        """The queue's items by kind, state and lease owner, read on a connection of
        its own (a pooled one could be what stalls), for a wait that failed."""
        query = (
            select(queue_items.c.kind, queue_items.c.state, queue_items.c.lease_owner, func.count())
            .group_by(queue_items.c.kind, queue_items.c.state, queue_items.c.lease_owner)
            .order_by(queue_items.c.kind, queue_items.c.state, queue_items.c.lease_owner)
        )
        engine = create_async_engine(sqlalchemy_url(self.url, async_=True), poolclass=NullPool)
        try:
            async with asyncio.timeout(10), engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        except Exception as exc:  # the view is a diagnosis; its own failure is reported
            return f"queue: not readable ({_first_line(exc)})"
        finally:
            await engine.dispose()
        return "queue (kind, state, lease owner, items):\n" + "\n".join(
            f"  {kind} {state} {owner} {n}" for kind, state, owner, n in rows
        )

    async def progress_beyond(self, done: int, what: str) -> float:
        """Wait until more than ``done`` activities completed; the seconds it took."""

        async def more() -> bool:
            return await self.activities_done() > done

        return await self.until(what, more)

    async def drained(self) -> float:
        total = len(self.handles)

        async def all_done() -> bool:
            return await self.runs_done() >= total

        return await self.until(f"{total} runs completed", all_done)

    # -- the verdict

    async def assert_exactly_once(self) -> None:
        """No run lost, none completed twice, every activity recorded once, queue empty."""
        keys = sorted(self.handles)
        per_id = Counter(r.workflow_id for r in await self.read(select(runs.c.workflow_id)))
        assert per_id == dict.fromkeys(keys, 1), "a run lost or started twice"
        states = Counter(r.state for r in await self.read(select(runs.c.state)))
        assert states == {RunState.COMPLETED.value: len(keys)}, states
        closed = Counter(
            r.workflow_id
            for r in await self.read(
                select(events.c.workflow_id).where(events.c.type == "workflow_completed")
            )
        )
        assert closed == dict.fromkeys(keys, 1), [k for k in keys if closed[k] != 1]
        recorded = Counter(
            r.workflow_id
            for r in await self.read(
                select(events.c.workflow_id).where(events.c.type == "activity_completed")
            )
        )
        assert recorded == {k: self.steps[k] for k in keys}, [
            k for k in keys if recorded[k] != self.steps[k]
        ]
        left = await self.read(
            select(queue_items.c.kind, queue_items.c.state).where(queue_items.c.state.in_(LIVE))
        )
        assert left == []
        for key in keys:
            result = await self.retried(
                lambda key=key: self.handles[key].result(timeout=timedelta(seconds=WAIT))
            )
            assert result == expected_result(key, self.steps[key]), key

    # -- figures

    async def table_sizes(self) -> dict[str, int]:
        """Bytes of the queue, events and runs tables with their indexes and TOAST
        (PostgreSQL), or their pages (SQLite), plus the SQLite file's page counts."""
        names = [queue_items.name, events.name, runs.name]
        if self.dialect == "postgresql":
            rows = await self.read(
                text(
                    "SELECT t, pg_total_relation_size(t::regclass) "
                    "FROM unnest(CAST(:names AS text[])) AS t"
                ).bindparams(names=names)
            )
            return {name: int(size) for name, size in rows}
        rows = await self.read(
            text(
                "SELECT m.tbl_name, count(*) FROM dbstat AS d "
                "JOIN sqlite_master AS m ON d.name = m.name GROUP BY m.tbl_name"
            )
        )
        pages = {name: int(count) for name, count in rows if name in names}
        pages["page_count"] = int(await self.scalar(text("PRAGMA page_count")))
        pages["freelist_count"] = int(await self.scalar(text("PRAGMA freelist_count")))
        return pages


def _first_line(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}"[:200]


@pytest.fixture
async def drain_factory(
    crash_workers: CrashWorkers, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[str, str], Awaitable[Drain]]]:
    """Drains on databases of the test's choosing; prints the figures measured at the end."""
    clients: list[Any] = []
    FIGURES.clear()
    marker = request.node.get_closest_marker("timeout")
    limit = float(marker.args[0] if marker else request.config.getini("timeout") or "inf")
    deadline = time.monotonic() + limit

    async def make(database_url: str, name: str) -> Drain:
        client = await turnout.connect(executor="internal", database_url=database_url)
        clients.append(client)
        return Drain(client, database_url, crash_workers, name, deadline)

    try:
        yield make
    finally:
        for client in clients:
            await client.close()
        for line in FIGURES:
            print(line)


Factory = Callable[[str, str], Awaitable[Drain]]


def run_keys(drain: Drain, count: int) -> list[str]:
    """``count`` workflow ids on the drain's queue."""
    return [f"{drain.queue}-{i:04d}" for i in range(count)]


async def until_activities(drain: Drain, activities: int) -> None:
    """Wait until ``activities`` activities completed in all."""

    async def enough() -> bool:
        return await drain.activities_done() >= activities

    await drain.until(f"{activities} activities completed", enough)


async def leases_taken_over(drain: Drain, dead: Sequence[CrashWorkerProcess]) -> float:
    """Wait until nothing is leased to the ``dead`` workers any more; the seconds it took."""

    async def none_left() -> bool:
        for worker in dead:
            if await drain.leased_by(worker.identity):
                return False
        return True

    return await drain.until("the dead workers' leases taken over", none_left)
