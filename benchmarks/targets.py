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
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import turnout
from benchmarks.session import RunTimes, Session, stop_workers

__all__ = [
    "EXECUTORS",
    "PostgresTarget",
    "SqliteTarget",
    "Target",
    "TemporalTarget",
    "make_target",
]

EXECUTORS = ("internal-sqlite", "internal-postgres", "temporal")
"""The names ``--executors`` accepts, in their default order."""


class Target(abc.ABC):
    """One executor set-up; :meth:`setup` before use, :meth:`teardown` after."""

    name: str
    executor: str
    internal: bool = True

    def __init__(self, worker_processes: int) -> None:
        self.worker_processes = worker_processes
        self.profile_dir: Path | None = None
        """When set, worker processes write cProfile statistics here."""
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
        session = Session(
            self, workload, client, task_queue, [*worker_args, "--task-queue", task_queue]
        )
        try:
            count = self.worker_processes if workers is None else workers
            if count:
                await session.start_workers(count)
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
