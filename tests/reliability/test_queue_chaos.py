"""The queue chaos suite: the faults public PostgreSQL job-queue benchmarks inject.

Every scenario drains workflows of a few activities each (:class:`ChaosDrainWorkflow`)
on worker processes, injects its fault while they work, and then asserts the same three
things: no run is lost (every started workflow id has one run, completed, with the
expected result), nothing completed twice (one ``workflow_completed`` event per run and
one ``activity_completed`` per activity), and work resumed after every fault (a bounded
wait for progress, never a timing assertion). The figures (recovery time after each
fault, claim latency, table sizes) are printed, not asserted: run with ``-s`` to see
them; docs/operations.md ("Chaos suite") has those of a reference run.

- ``postgres_restart`` (PostgreSQL): a fast restart, an immediate restart (crash
  recovery) and a stop of a few seconds, one after the other, under three workers.
  test_outage.py restarts the server while a client keeps starting workflows; this one
  repeats the fault kinds and measures the recovery after each.
- ``pg_backend_kill`` (PostgreSQL): every backend of the database (the workers' pools,
  their ``LISTEN`` connections, the client's) terminated with ``pg_terminate_backend``,
  several times during a drain.
- ``pool_exhaustion``: far more concurrent client operations than the client's pool
  holds, while on PostgreSQL other sessions take all but a few of ``max_connections``
  (the workers' pools and the client cannot have the connections they would open); on
  SQLite the same load with every process competing for the one write lock.
- ``crash_recovery``: every worker process SIGKILLed at once mid-drain, a new fleet
  started; test_crashes.py places single kills precisely (mid-activity, mid-task,
  mid-commit), this one kills everything that runs.
- ``repeated_kills``: one of three workers SIGKILLed (and replaced) again and again
  while they drain a few hundred workflows.
- ``table_bloat``: a steady load for ``TURNOUT_CHAOS_MINUTES`` minutes (0.75 by default,
  the CI form; set it to 30 for the long form) with finished queue items pruned: no
  finished queue item outlives the pruning window while runs and events grow with the
  work done; claim latency per window and table sizes at start, middle and end printed.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

import turnout
from turnout import RetryPolicy, RunState, TurnoutError, activity, workflow
from turnout.executors.internal.schema import events, queue_items, runs
from turnout.executors.internal.store.postgres import libpq_url
from turnout.testing import LocalPostgres, ServerError
from turnout.testing.servers import REQUIRE_POSTGRES_ENV, env_flag

if TYPE_CHECKING:
    from tests.reliability.conftest import CrashWorkerProcess, CrashWorkers

MODULE = __name__
LEASE = 2.0
"""Workflow-task lease of the workers (seconds): a dead worker's task is taken up after it."""
STEP_TIMEOUT = timedelta(seconds=3)
"""Start-to-close timeout of the activities: a dead worker's activity is retried after it."""
STEP_WORK = 0.02
"""Seconds each activity works (waits): a killed worker holds the leases of what it ran."""
WAIT = 150.0
"""Seconds any one wait of a scenario may take before it fails (a hang, never a timing)."""
START_ERRORS = (DBAPIError, OSError, TurnoutError)
"""What a client call may raise while the database is out of reach or refuses connections;
the client retries those (with the same idempotency key), anything else fails the test."""
LIVE = ("queued", "claimed", "running")
FINISHED = ("completed", "failed", "canceled")

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


@pytest.fixture(autouse=True)
def _print_figures() -> Iterator[None]:
    FIGURES.clear()
    yield
    for line in FIGURES:
        print(line)


# --------------------------------------------------------------------------- the harness


def _now() -> datetime:
    return datetime.now(UTC)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


class Drain:
    """A client, a fleet of worker processes on one task queue, and the database's view.

    Each scenario has a database of its own, so counts over whole tables are its own.
    """

    def __init__(
        self, client: Any, database_url: str, crash_workers: CrashWorkers, name: str
    ) -> None:
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
        async with asyncio.timeout(WAIT):
            while True:
                try:
                    return await call()
                except START_ERRORS as exc:
                    self.client_errors[_first_line(exc)] += 1
                    await asyncio.sleep(0.05)

    # -- the database

    async def read(self, statement: Any) -> list[Any]:
        """Run a read, again while the database is out of reach."""
        async with asyncio.timeout(WAIT):
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
        try:
            async with asyncio.timeout(WAIT):
                while not await condition():
                    self.check_workers()
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"{what}: not within {WAIT} s\n{self.outputs()}") from None
        return time.monotonic() - began

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


def _sizes(sizes: dict[str, int], dialect: str) -> str:
    if dialect == "postgresql":
        return ", ".join(f"{k} {v / 2**10:.0f} KiB" for k, v in sizes.items())
    return ", ".join(f"{k} {v} pages" for k, v in sizes.items())


@pytest.fixture
async def drain_factory(
    crash_workers: CrashWorkers,
) -> AsyncIterator[Callable[[str, str], Awaitable[Drain]]]:
    clients: list[Any] = []

    async def make(database_url: str, name: str) -> Drain:
        client = await turnout.connect(executor="internal", database_url=database_url)
        clients.append(client)
        return Drain(client, database_url, crash_workers, name)

    try:
        yield make
    finally:
        for client in clients:
            await client.close()


Factory = Callable[[str, str], Awaitable[Drain]]


def _keys(drain: Drain, count: int) -> list[str]:
    return [f"{drain.queue}-{i:04d}" for i in range(count)]


async def _at_least(drain: Drain, activities: int) -> None:
    async def enough() -> bool:
        return await drain.activities_done() >= activities

    await drain.until(f"{activities} activities completed", enough)


async def _leases_taken_over(drain: Drain, dead: Sequence[CrashWorkerProcess]) -> float:
    """Wait until nothing is leased to the ``dead`` workers any more; the seconds it took."""

    async def none_left() -> bool:
        for worker in dead:
            if await drain.leased_by(worker.identity):
                return False
        return True

    return await drain.until("the dead workers' leases taken over", none_left)


# --------------------------------------------------------------------------- crashes

CRASH_RUNS = 200
CRASH_STEPS = 3


async def test_chaos_crash_recovery(database_url: str, drain_factory: Factory) -> None:
    """Every worker SIGKILLed at once mid-drain; a new fleet finishes the work."""
    drain = await drain_factory(database_url, "crash-recovery")
    await drain.start(_keys(drain, CRASH_RUNS), CRASH_STEPS)
    await asyncio.gather(*(drain.add_worker() for _ in range(3)))
    await _at_least(drain, CRASH_RUNS * CRASH_STEPS // 4)

    dead = list(drain.workers)
    await asyncio.gather(*(drain.kill(worker) for worker in dead))
    killed = time.monotonic()
    done = await drain.activities_done()
    held = [await drain.leased_by(w.identity) for w in dead]
    await asyncio.gather(*(drain.add_worker() for _ in range(3)))
    restarted = time.monotonic() - killed
    await drain.progress_beyond(done, "work resumed after the crash")
    resumed = time.monotonic() - killed
    await _leases_taken_over(drain, dead)
    taken_over = time.monotonic() - killed
    await drain.drained()
    drained = time.monotonic() - killed
    await drain.assert_exactly_once()
    assert done < CRASH_RUNS * CRASH_STEPS, "the drain ended before the crash"
    FIGURES.append(
        f"crash_recovery[{drain.dialect}]: 3 workers SIGKILLed after {done} of "
        f"{CRASH_RUNS * CRASH_STEPS} activities, holding {sum(held)} leases; new fleet "
        f"ready after {_ms(restarted)}, first activity after {_ms(resumed)}, dead leases "
        f"taken over after {_ms(taken_over)}, drained after {_ms(drained)}"
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
        await _leases_taken_over(drain, [victim])
        return time.monotonic() - killed

    producer = asyncio.create_task(
        drain.keep_busy(killing, KILL_STEPS, at_least=KILL_RUNS, in_flight=KILL_IN_FLIGHT)
    )
    done = 0
    try:
        while len(drain.killed) < KILLS:
            await _at_least(drain, done + KILL_EVERY)
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
        f"kill within {_ms(max(resumed_s))} (median {_ms(statistics.median(resumed_s))}); "
        f"the dead worker's leases taken over in {_ms(min(taken_over_s))}.."
        f"{_ms(max(taken_over_s))} (median {_ms(statistics.median(taken_over_s))})"
    )


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
            await _at_least(drain, done + FAULT_EVERY)
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
    return "; ".join(f"{name}: work went on {_ms(seconds)} after" for name, seconds in recoveries)


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
    keys = _keys(drain, POOL_RUNS)
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
        f"{POOL_STEPS}-activity workflows started at once in {_ms(figures['started'])}, "
        f"all completed after {_ms(figures['finished'])}; client calls retried "
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
        f"once in {_ms(figures['started'])}, all completed after {_ms(figures['finished'])}; "
        f"client calls retried {sum(drain.client_errors.values())} times; errors seen: "
        f"{causes or 'none'}"
    )


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
                    f"  t={sample['t']:.0f}s claims {len(claimed)} p50 {_ms(_p(claimed, 0.5))} "
                    f"p99 {_ms(_p(claimed, 0.99))}; queue rows {sample['queue']:.0f} "
                    f"(live {sample['live']:.0f}), runs {sample['runs']:.0f}, "
                    f"events {sample['events']:.0f}"
                )
            if len(sizes) == 1 and sample["t"] >= duration / 2:
                sizes["middle"] = await drain.table_sizes()
            drain.check_workers()
        going.clear()
        await producer
    finally:
        producer.cancel()
    await drain.drained()
    sizes["end"] = await drain.table_sizes()
    await drain.assert_exactly_once()
    end = await _sample(drain)
    made = int(await drain.scalar(select(func.max(queue_items.c.id))))

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
