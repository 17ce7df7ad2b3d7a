"""What the peers' targets share: a PostgreSQL place, a client shaped like turnout's,
and completion and times read with SQL from the peer's own tables.

A workload drives a peer exactly as it drives turnout: it calls
``session.client.start_workflow(OneActivity.run, 1, id=..., task_queue=...)`` and
``handle.signal(Echo.echo, tag)``. :class:`PeerClient` turns those calls into
the peer's own (a DBOS enqueue, a Procrastinate defer) by the workflow's name
in :data:`WORKFLOWS`, so the workload code is the same for every executor.
"""

from __future__ import annotations

import abc
import asyncio
import importlib
import importlib.metadata
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from benchmarks.flows import Echo, FanOut, OneActivity, Pickup, Sequential
from benchmarks.peers import names
from benchmarks.postgres import PostgresPlace
from benchmarks.session import RunTimes, Session
from benchmarks.targets import Target, TargetUnavailable

__all__ = ["SIGNALS", "WORKFLOWS", "PeerClient", "PeerHandle", "PeerTarget"]

WORKFLOWS: dict[Callable[..., Any], str] = {
    OneActivity.run: names.ONE_ACTIVITY,
    Sequential.run: names.SEQUENTIAL,
    FanOut.run: names.FAN_OUT,
    Pickup.run: names.PICKUP,
    Echo.run: names.ECHO,
}
"""The benchmark's workflows by the name they have on a peer."""

SIGNALS: dict[Callable[..., Any], str] = {Echo.echo: "echo", Echo.finish: "finish"}
"""The echo workflow's signals by name."""

CLAIM_SKIPPED = "turnout's own store path (claim); a peer has no equivalent"

_NO_ARG: Any = object()


class PeerClient(abc.ABC):
    """The part of turnout's client the workloads use, on a peer.

    ``url`` is the session's database, which the target reads completion and
    times from.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    async def start_workflow(
        self,
        workflow: Callable[..., Any],
        arg: Any = _NO_ARG,
        *,
        args: Sequence[Any] | None = None,
        id: str,
        task_queue: str,
    ) -> PeerHandle:
        """Start the peer's version of ``workflow`` with ``arg`` (or ``args``)."""
        name = WORKFLOWS.get(workflow)
        if name is None:
            raise ValueError(f"{workflow!r} has no version on this peer")
        values = list(args) if args is not None else [] if arg is _NO_ARG else [arg]
        await self.start(name, values, id, task_queue)
        return PeerHandle(self, id)

    @abc.abstractmethod
    async def start(self, name: str, values: list[Any], workflow_id: str, queue: str) -> None:
        """Start workflow (or job) ``name`` with ``values`` on ``queue``."""

    async def signal(self, workflow_id: str, name: str, arg: Any) -> None:
        """Send signal ``name`` (of :data:`SIGNALS`) with ``arg`` to a running workflow."""
        raise NotImplementedError(f"{type(self).__name__} has no signals")

    async def result(self, workflow_id: str) -> Any:
        """Wait for a workflow's result."""
        raise NotImplementedError(f"{type(self).__name__} has no results")

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the client's connections."""


class PeerHandle:
    """A started workflow on a peer: signal it, wait for its result."""

    def __init__(self, client: PeerClient, workflow_id: str) -> None:
        self.client = client
        self.id = workflow_id

    async def signal(self, signal: Callable[..., Any], arg: Any = None) -> None:
        """Send ``signal`` (``Echo.echo`` or ``Echo.finish``) with ``arg``."""
        await self.client.signal(self.id, SIGNALS[signal], arg)

    async def result(self) -> Any:
        """The workflow's result, once it has one."""
        return await self.client.result(self.id)


class PeerTarget(Target):
    """A peer on the same kind of PostgreSQL server as ``internal-postgres`` (same
    settings, or the same ``--database-url``), with a fresh database per session
    copied from a template the peer prepares once.

    Subclasses name the package, the workloads they run (the others are skipped
    with the reason in :attr:`reasons`), and the SQL that counts a session's
    closed runs (:attr:`closed_sql`) and reads their times (:attr:`times_sql`),
    both with one parameter: the workflow id prefix.
    """

    internal = False
    package: ClassVar[str]
    """The Python package (and distribution) the peer needs."""
    supported: ClassVar[frozenset[str]]
    reasons: ClassVar[dict[str, str]] = {"claim": CLAIM_SKIPPED}
    closed_sql: ClassVar[str]
    times_sql: ClassVar[str]
    """Rows of (workflow id, state — ``completed`` when it succeeded —, requested at,
    closed at or NULL), timestamps with time zone."""

    def __init__(
        self, worker_processes: int, *, database_url: str | None = None, durable: bool = False
    ) -> None:
        super().__init__(worker_processes)
        self._place = PostgresPlace(database_url=database_url, durable=durable)

    async def setup(self) -> None:
        try:
            importlib.import_module(self.package)
        except ImportError:
            raise TargetUnavailable(
                f"{self.package} is not installed: pip install -e '.[bench]'"
            ) from None
        await self._place.start(self.prepare, prefix=f"{self.name}_bench")

    async def teardown(self) -> None:
        try:
            await self._place.stop()
        finally:
            await super().teardown()

    @abc.abstractmethod
    def prepare(self, url: str) -> None:
        """Create the peer's tables in the template database at ``url``."""

    @abc.abstractmethod
    async def connect(self, url: str) -> PeerClient:
        """A client on the session database at ``url``."""

    @abc.abstractmethod
    def worker_args(self, url: str) -> list[str]:
        """The worker command line (``--task-queue`` is added) for the database at ``url``."""

    @abc.abstractmethod
    def details(self) -> dict[str, Any]:
        """How the peer is set up; ``note`` is printed under the results table."""

    def describe(self) -> dict[str, Any]:
        version = importlib.metadata.version(self.package)
        return {"executor": self.name, **self._place.describe(), "sdk": version, **self.details()}

    def server_pids(self) -> list[int]:
        return self._place.server_pids()

    def skip_reason(self, workload: str) -> str | None:
        if workload in self.supported:
            return None
        return self.reasons.get(workload, f"not implemented for {self.name}")

    async def _open(self, workload: str) -> tuple[Any, list[str], dict[str, Any]]:
        url, commits = await self._place.create()
        client = await self.connect(url)
        return client, self.worker_args(url), {"commits": commits}

    async def _close(self, session: Session, state: dict[str, Any]) -> None:
        session.commits = await self._place.drop(state["commits"])

    async def wait_closed(self, session: Session, prefix: str, count: int, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        async with await psycopg.AsyncConnection.connect(session.client.url) as conn:
            await conn.set_autocommit(True)
            while True:
                row = await (await conn.execute(self.closed_sql, (prefix,))).fetchone()
                closed = int(row[0]) if row else 0
                if closed >= count:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{closed} of {count} runs closed after {timeout}s")
                await asyncio.sleep(0.05)

    async def run_times(self, session: Session, prefix: str, expected: int) -> list[RunTimes]:
        import psycopg

        async with await psycopg.AsyncConnection.connect(session.client.url) as conn:
            rows = await (await conn.execute(self.times_sql, (prefix,))).fetchall()
        return [RunTimes(*row) for row in rows]
