"""The executors under test: their servers, databases, clients and worker processes.

A :class:`Target` is one executor set-up (``internal-sqlite``,
``internal-postgres`` or ``temporal``, or a peer from :mod:`benchmarks.peers`,
imported only when named). :meth:`Target.session` gives a workload
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
from pathlib import Path
from typing import Any

import turnout
from benchmarks.postgres import PostgresPlace
from benchmarks.session import RunTimes, Session, stop_workers

__all__ = [
    "ALL_EXECUTORS",
    "EXECUTORS",
    "PEERS",
    "PostgresTarget",
    "SqliteTarget",
    "Target",
    "TargetUnavailable",
    "TemporalTarget",
    "make_target",
]

EXECUTORS = ("internal-sqlite", "internal-postgres", "temporal")
"""turnout's executors: what ``--executors`` runs by default, in this order."""

PEERS = ("dbos", "procrastinate")
"""Other systems measured on the same workloads, on request (:mod:`benchmarks.peers`)."""

ALL_EXECUTORS = EXECUTORS + PEERS
"""Every name ``--executors`` accepts."""


class TargetUnavailable(RuntimeError):
    """A target cannot run here (its package is not installed); the message says why
    and what to do, in one line."""


class Target(abc.ABC):
    """One executor set-up; :meth:`setup` before use, :meth:`teardown` after."""

    name: str
    executor: str
    internal: bool = True
    worker_module = "benchmarks.worker"
    """The module a worker subprocess runs (``python -m <module> <worker args>``)."""

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

    def skip_reason(self, workload: str) -> str | None:
        """Why ``workload`` does not run on this target (None: it runs)."""
        return None

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
        self._place = PostgresPlace(database_url=database_url, durable=durable)

    async def setup(self) -> None:
        from turnout.executors.internal.migrate import create_schema

        await self._place.start(create_schema, prefix="turnout_bench")

    async def teardown(self) -> None:
        try:
            await self._place.stop()
        finally:
            await super().teardown()

    def describe(self) -> dict[str, Any]:
        return {"executor": self.executor, **self._place.describe()}

    def server_pids(self) -> list[int]:
        return self._place.server_pids()

    async def _open(self, workload: str) -> tuple[Any, list[str], dict[str, Any]]:
        url, commits = await self._place.create()
        client = await turnout.connect(executor="internal", database_url=url, create_schema=False)
        return client, ["--executor", "internal", "--database-url", url], {"commits": commits}

    async def _close(self, session: Session, state: dict[str, Any]) -> None:
        session.commits = await self._place.drop(state["commits"])


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
    """The target called ``name`` (one of :data:`ALL_EXECUTORS`)."""
    if name == "internal-sqlite":
        return SqliteTarget(worker_processes)
    if name == "internal-postgres":
        return PostgresTarget(worker_processes, database_url=database_url, durable=pg_durable)
    if name == "temporal":
        return TemporalTarget(worker_processes, address=temporal_address)
    if name in PEERS:
        from benchmarks.peers import make_peer

        return make_peer(
            name, worker_processes=worker_processes, database_url=database_url, durable=pg_durable
        )
    raise ValueError(f"unknown executor {name!r}; choose from {', '.join(ALL_EXECUTORS)}")
