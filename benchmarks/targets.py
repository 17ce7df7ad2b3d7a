"""The executors under test: their servers, databases, clients and worker processes.

A :class:`Target` is one executor set-up (``internal-sqlite``,
``internal-postgres`` or ``temporal``). :meth:`Target.session` gives a workload
a clean place to run: a fresh database (internal executors) or a fresh task
queue (Temporal), a client in this process and ``K`` worker subprocesses
(``python -m benchmarks.worker``). The session measures CPU and memory between
:meth:`Session.mark_start` and :meth:`Session.mark_end`, and on PostgreSQL
counts the database's commits (``pg_stat_database.xact_commit``) over its whole
life: workers and client are stopped first, so every backend has flushed its
statistics when the count is read.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import turnout
from benchmarks.metrics import MIB, CpuMeter, RssSampler, peak_rss

__all__ = [
    "EXECUTORS",
    "PostgresTarget",
    "RunTimes",
    "Session",
    "SqliteTarget",
    "Target",
    "TemporalTarget",
    "make_target",
]

EXECUTORS = ("internal-sqlite", "internal-postgres", "temporal")
"""The names ``--executors`` accepts, in their default order."""

REPO_ROOT = Path(__file__).resolve().parent.parent
_READY_TIMEOUT = 90.0
_STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class RunTimes:
    """When one workflow run was requested and closed, and how it ended."""

    workflow_id: str
    state: str
    requested_at: datetime
    closed_at: datetime | None


@dataclass
class WorkerProcess:
    """One ``python -m benchmarks.worker`` subprocess."""

    process: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def spawn_workers(count: int, args: Sequence[str], log_dir: Path) -> list[WorkerProcess]:
    """Start ``count`` worker subprocesses with ``args`` and wait until each says READY."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    workers: list[WorkerProcess] = []
    try:
        for index in range(count):
            log = log_dir / f"worker-{index}-{secrets.token_hex(3)}.log"
            stderr = log.open("wb")
            try:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "benchmarks.worker",
                    *args,
                    cwd=REPO_ROOT,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=stderr,
                )
            finally:
                stderr.close()
            workers.append(WorkerProcess(process, log))
        for worker in workers:
            await _wait_ready(worker)
    except BaseException:
        await stop_workers(workers)
        raise
    return workers


async def _wait_ready(worker: WorkerProcess) -> None:
    assert worker.process.stdout is not None
    try:
        line = await asyncio.wait_for(worker.process.stdout.readline(), _READY_TIMEOUT)
    except TimeoutError:
        line = b""
    if not line.startswith(b"READY"):
        raise RuntimeError(
            f"benchmark worker {worker.pid} did not start (exit code "
            f"{worker.process.returncode}):\n{_log_tail(worker.log)}"
        )


async def stop_workers(workers: Sequence[WorkerProcess]) -> None:
    """SIGTERM every worker (graceful shutdown), SIGKILL those still running after 30 s."""
    for worker in workers:
        if worker.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                worker.process.terminate()
    for worker in workers:
        try:
            await asyncio.wait_for(worker.process.wait(), _STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()
            await worker.process.wait()


class Session:
    """One workload's run on one target: a client, worker subprocesses and meters.

    Workloads add every workflow (or signal round trip) they run, warm-up
    included, to :attr:`units_total`; commits are divided by it.
    """

    def __init__(self, target: Target, workload: str, client: Any, task_queue: str) -> None:
        self.target = target
        self.workload = workload
        self.client = client
        self.task_queue = task_queue
        self.token = secrets.token_hex(4)
        self.workers: list[WorkerProcess] = []
        self.units_total = 0
        self.units = 0
        self.commits: int | None = None
        self._cpu: CpuMeter | None = None
        self._sampler: RssSampler | None = None
        self._client_sampler: RssSampler | None = None
        self._rss_start: list[int] = []
        self._rss_end: list[int] = []
        self._peaks: list[int] = []
        self._seconds = 0.0
        self._began = 0.0

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the worker subprocesses."""
        return [w.pid for w in self.workers]

    def mark_start(self) -> None:
        """Begin measuring CPU and memory (after warm-up)."""
        self._cpu = CpuMeter(workers=self.worker_pids, servers=self.target.server_pids())
        self._cpu.start()
        self._sampler = RssSampler(self.worker_pids)
        self._rss_start = list(self._sampler.sample().values())
        self._sampler.start()
        self._client_sampler = RssSampler([os.getpid()])
        self._client_sampler.start()
        self._began = time.perf_counter()

    async def mark_end(self, units: int) -> None:
        """Stop measuring; ``units`` is how many workflows (or round trips) were measured."""
        self._seconds = time.perf_counter() - self._began
        self.units = units
        if self._cpu is not None:
            self._cpu.stop()
        if self._sampler is not None:
            await self._sampler.stop()
            self._rss_end = list(self._sampler.sample().values())
        if self._client_sampler is not None:
            await self._client_sampler.stop()
        self._peaks = [p for p in (peak_rss(pid) for pid in self.worker_pids) if p is not None]
        if not self._peaks and self._sampler is not None:
            self._peaks = list(self._sampler.peak.values())

    async def wait_closed(self, prefix: str, count: int, timeout: float) -> None:
        """Wait until the runs ``prefix + str(i)`` for ``i < count`` are all closed."""
        await self.target.wait_closed(self, prefix, count, timeout)

    async def run_times(self, prefix: str, expected: int) -> list[RunTimes]:
        """Requested/closed times of the runs whose workflow id starts with ``prefix``."""
        return await self.target.run_times(self, prefix, expected)

    def stats(self) -> dict[str, Any]:
        """CPU, memory and commit figures of the measured part (call after the session)."""
        out: dict[str, Any] = {
            "worker_processes": len(self.workers),
            "measured_seconds": self._seconds,
        }
        if self._cpu is not None and self._cpu.result:
            cpu = self._cpu.result
            own = cpu["client"] + cpu["workers"]
            out["cpu_client_s"] = cpu["client"]
            out["cpu_workers_s"] = cpu["workers"]
            out["cpu_s_per_1k"] = own / self.units * 1000 if self.units else None
            if self.target.server_pids():
                out["cpu_server_s"] = cpu["server"]
                per_1k = cpu["server"] / self.units * 1000 if self.units else None
                out["server_cpu_s_per_1k"] = per_1k
        if self._rss_start:
            out["worker_rss_start_mib"] = sum(self._rss_start) / len(self._rss_start) / MIB
        if self._rss_end:
            out["worker_rss_end_mib"] = sum(self._rss_end) / len(self._rss_end) / MIB
        if self._peaks:
            out["worker_peak_rss_mib"] = max(self._peaks) / MIB
        if self._client_sampler is not None and self._client_sampler.peak:
            out["client_peak_rss_mib"] = max(self._client_sampler.peak.values()) / MIB
        if self.commits is not None:
            out["commits"] = self.commits
            out["units_total"] = self.units_total
            out["commits_per_unit"] = self.commits / self.units_total if self.units_total else None
        return out


class Target(abc.ABC):
    """One executor set-up; :meth:`setup` before use, :meth:`teardown` after."""

    name: str
    executor: str
    internal: bool = True

    def __init__(self, worker_processes: int) -> None:
        self.worker_processes = worker_processes
        self._dir: Path | None = None

    @property
    def workdir(self) -> Path:
        """A temporary directory for this target's files (databases, worker logs)."""
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=f"turnout-bench-{self.name}-"))
        return self._dir

    @abc.abstractmethod
    async def setup(self) -> None:
        """Start servers, prepare templates."""

    async def teardown(self) -> None:
        """Stop what :meth:`setup` started; delete temporary files."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def describe(self) -> dict[str, Any]:
        """What this target is (for the result file)."""
        return {"executor": self.executor}

    def server_pids(self) -> list[int]:
        """Process ids of the servers whose CPU is reported separately (if we know them)."""
        return []

    @abc.abstractmethod
    async def _open(self, workload: str) -> tuple[Any, list[str], dict[str, Any]]:
        """A client, the worker arguments and private state for a new session."""

    @abc.abstractmethod
    async def _close(self, session: Session, state: dict[str, Any]) -> None:
        """Release the session's database (after workers and client stopped)."""

    @contextlib.asynccontextmanager
    async def session(self, workload: str, *, workers: int | None = None) -> AsyncIterator[Session]:
        """A fresh place to run ``workload`` with ``workers`` worker subprocesses (0: none)."""
        client, worker_args, state = await self._open(workload)
        task_queue = f"bench-{workload}-{secrets.token_hex(4)}"
        session = Session(self, workload, client, task_queue)
        try:
            count = self.worker_processes if workers is None else workers
            if count:
                session.workers = await spawn_workers(
                    count, [*worker_args, "--task-queue", task_queue], self.workdir
                )
            yield session
        finally:
            await stop_workers(session.workers)
            await client.close()
            await self._close(session, state)

    @abc.abstractmethod
    async def wait_closed(self, session: Session, prefix: str, count: int, timeout: float) -> None:
        """Wait until the session's runs ``prefix + str(i)``, ``i < count``, are closed;
        raise TimeoutError after ``timeout`` seconds."""

    @abc.abstractmethod
    async def run_times(self, session: Session, prefix: str, expected: int) -> list[RunTimes]:
        """Times of the session's runs whose workflow id starts with ``prefix``."""


class _InternalTarget(Target):
    """What both internal set-ups share: completion and times read from the runs table."""

    executor = "internal"

    async def wait_closed(self, session: Session, prefix: str, count: int, timeout: float) -> None:
        from sqlalchemy import func, select

        from turnout.executors.internal.schema import runs

        query = select(func.count()).where(
            runs.c.task_queue == session.task_queue,
            runs.c.workflow_id.startswith(prefix, autoescape=True),
            runs.c.closed_at.is_not(None),
        )
        deadline = time.monotonic() + timeout
        while True:
            async with session.client.store.reader.connect() as conn:
                closed = (await conn.execute(query)).scalar_one()
            if closed >= count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{closed} of {count} workflows closed after {timeout}s")
            await asyncio.sleep(0.05)

    async def run_times(self, session: Session, prefix: str, expected: int) -> list[RunTimes]:
        from sqlalchemy import select

        from turnout.executors.internal.schema import runs

        query = select(
            runs.c.workflow_id, runs.c.state, runs.c.requested_at, runs.c.closed_at
        ).where(
            runs.c.task_queue == session.task_queue,
            runs.c.workflow_id.startswith(prefix, autoescape=True),
        )
        async with session.client.store.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [RunTimes(r.workflow_id, r.state, r.requested_at, r.closed_at) for r in rows]


class SqliteTarget(_InternalTarget):
    """The internal executor on a SQLite file (one fresh file per session)."""

    name = "internal-sqlite"

    async def setup(self) -> None:
        from turnout.executors.internal.migrate import create_schema

        self._template = self.workdir / "template.db"
        await asyncio.to_thread(create_schema, f"sqlite:///{self._template}")

    def describe(self) -> dict[str, Any]:
        import sqlite3

        return {"executor": self.executor, "database": "sqlite", "version": sqlite3.sqlite_version}

    async def _open(self, workload: str) -> tuple[Any, list[str], dict[str, Any]]:
        path = self.workdir / f"{workload}-{secrets.token_hex(3)}.db"
        shutil.copyfile(self._template, path)
        url = f"sqlite:///{path}"
        client = await turnout.connect(executor="internal", database_url=url, create_schema=False)
        return client, ["--executor", "internal", "--database-url", url], {"path": path}

    async def _close(self, session: Session, state: dict[str, Any]) -> None:
        await asyncio.to_thread(_remove_sqlite, state["path"])


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@dataclass
class _Commits:
    admin_url: str
    database: str
    before: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def _query(self, sql: str) -> Any:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(sql, (self.database,)).fetchone()
            return row[0] if row else None

    def read(self) -> int:
        value = self._query("SELECT xact_commit FROM pg_stat_database WHERE datname = %s")
        return int(value or 0)

    def backends(self) -> int:
        value = self._query("SELECT count(*) FROM pg_stat_activity WHERE datname = %s")
        return int(value or 0)

    def settle(self, timeout: float = 15.0) -> int:
        """The commit count once every backend of the database has exited (and flushed)."""
        deadline = time.monotonic() + timeout
        while self.backends() and time.monotonic() < deadline:
            time.sleep(0.05)
        last = self.read()
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.read()
            if now == last:
                return now
            last = now
        return last


class PostgresTarget(_InternalTarget):
    """The internal executor on PostgreSQL: a throwaway local cluster, or ``--database-url``.

    Every session gets a new database, copied from a template that already
    holds the schema; it is dropped when the session ends.
    """

    name = "internal-postgres"

    def __init__(
        self, worker_processes: int, *, database_url: str | None = None, durable: bool = False
    ) -> None:
        super().__init__(worker_processes)
        self._url = database_url
        self._durable = durable
        self._server: Any = None
        self._dbs: Any = None
        self._version = ""

    async def setup(self) -> None:
        from turnout.executors.internal.migrate import create_schema
        from turnout.testing.servers import ExternalPostgres, LocalPostgres, PostgresDatabases

        if self._url:
            self._server = ExternalPostgres(self._url).check()
        else:
            settings: dict[str, str] = {}
            base_dir: str | None = None
            if self._durable:
                settings = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
                base_dir = tempfile.gettempdir()
            self._server = await asyncio.to_thread(
                LocalPostgres(settings=settings, base_dir=base_dir).start
            )
        self._dbs = PostgresDatabases(
            self._server.admin_url, prefix="turnout_bench", file_copy=not self._url
        )
        template = await asyncio.to_thread(self._dbs.create_template)
        await asyncio.to_thread(create_schema, self._dbs.url_for(template))
        self._version = await asyncio.to_thread(self._server_version)

    def _server_version(self) -> str:
        import psycopg

        with psycopg.connect(self._server.admin_url, autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            fsync = conn.execute("SHOW fsync").fetchone()
            return f"{row[0] if row else '?'} (fsync={fsync[0] if fsync else '?'})"

    async def teardown(self) -> None:
        try:
            if self._dbs is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._dbs.close)
            if self._server is not None:
                await asyncio.to_thread(self._server.stop)
        finally:
            self._server = self._dbs = None
            await super().teardown()

    def describe(self) -> dict[str, Any]:
        kind = getattr(self._server, "kind", "?")
        return {
            "executor": self.executor,
            "database": "postgresql",
            "server": kind,
            "version": self._version,
            "durable": self._durable or bool(self._url),
        }

    def server_pids(self) -> list[int]:
        data_dir = getattr(self._server, "data_dir", None)
        if data_dir is None:
            return []
        try:
            return [int((Path(data_dir) / "postmaster.pid").read_text().split("\n", 1)[0])]
        except (OSError, ValueError):
            return []

    async def _open(self, workload: str) -> tuple[Any, list[str], dict[str, Any]]:
        name = await asyncio.to_thread(self._dbs.create)
        url = self._dbs.url_for(name)
        commits = _Commits(self._server.admin_url, name)
        commits.before = await asyncio.to_thread(commits.read)
        client = await turnout.connect(executor="internal", database_url=url, create_schema=False)
        return client, ["--executor", "internal", "--database-url", url], {"commits": commits}

    async def _close(self, session: Session, state: dict[str, Any]) -> None:
        commits: _Commits = state["commits"]
        try:
            after = await asyncio.to_thread(commits.settle)
            session.commits = after - commits.before
        finally:
            await asyncio.to_thread(self._dbs.drop, commits.database)


class TemporalTarget(Target):
    """The Temporal executor: a dev server from the temporal CLI, or ``--temporal-address``."""

    name = "temporal"
    executor = "temporal"
    internal = False

    def __init__(self, worker_processes: int, *, address: str | None = None) -> None:
        super().__init__(worker_processes)
        self._address = address
        self._server: Any = None

    async def setup(self) -> None:
        from turnout.testing.servers import ExternalTemporal, TemporalDevServer

        if self._address:
            self._server = ExternalTemporal(self._address).check()
        else:
            self._server = await asyncio.to_thread(TemporalDevServer().start)

    async def teardown(self) -> None:
        try:
            if self._server is not None:
                await asyncio.to_thread(self._server.stop)
        finally:
            self._server = None
            await super().teardown()

    def describe(self) -> dict[str, Any]:
        import temporalio

        return {
            "executor": self.executor,
            "server": getattr(self._server, "kind", "?"),
            "sdk": getattr(temporalio, "__version__", "?"),
        }

    def server_pids(self) -> list[int]:
        pid = getattr(self._server, "pid", None)
        return [pid] if pid else []

    async def _close(self, session: Session, state: dict[str, Any]) -> None:
        """Nothing to release: task queues cost nothing."""

    async def _open(self, workload: str) -> tuple[Any, list[str], dict[str, Any]]:
        address = self._server.address
        client = await turnout.connect(executor="temporal", temporal_address=address)
        return client, ["--executor", "temporal", "--temporal-address", address], {}

    async def wait_closed(self, session: Session, prefix: str, count: int, timeout: float) -> None:
        raw = session.client.raw
        gate = asyncio.Semaphore(256)

        async def one(workflow_id: str) -> None:
            async with gate:
                with contextlib.suppress(Exception):  # failures show in run_times
                    await raw.get_workflow_handle(workflow_id).result()

        ids = [f"{prefix}{i}" for i in range(count)]
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in ids)), timeout)

    async def run_times(self, session: Session, prefix: str, expected: int) -> list[RunTimes]:
        from temporalio.client import WorkflowExecutionStatus

        raw = session.client.raw
        query = f"TaskQueue = '{session.task_queue}'"
        found: dict[str, RunTimes] = {}
        deadline = time.monotonic() + 20
        while True:
            async for execution in raw.list_workflows(query=query):
                if not execution.id.startswith(prefix):
                    continue
                status = execution.status
                state = status.name.lower() if status is not None else "unknown"
                if status == WorkflowExecutionStatus.RUNNING:
                    continue
                found[execution.id] = RunTimes(
                    execution.id, state, execution.start_time, execution.close_time
                )
            if len(found) >= expected or time.monotonic() > deadline:
                return list(found.values())
            await asyncio.sleep(0.25)


def make_target(
    name: str,
    *,
    worker_processes: int,
    database_url: str | None = None,
    temporal_address: str | None = None,
    pg_durable: bool = False,
) -> Target:
    """The target called ``name`` (one of :data:`EXECUTORS`)."""
    if name == "internal-sqlite":
        return SqliteTarget(worker_processes)
    if name == "internal-postgres":
        return PostgresTarget(worker_processes, database_url=database_url, durable=pg_durable)
    if name == "temporal":
        return TemporalTarget(worker_processes, address=temporal_address)
    raise ValueError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}")
