"""Procrastinate as a peer: a task queue, not a workflow engine.

``one_activity`` is one job deferred and run (the ``noop`` task), ``idle`` one
``ping`` job deferred into a quiet queue: there is no durable workflow around
the job and no activity inside it, so Procrastinate does less work per unit
than a workflow engine does. Workloads that need a workflow (several steps,
fan-out, signals) are skipped. The benchmark process defers with an ``App`` on
a psycopg pool; ``K`` worker processes (:mod:`benchmarks.peers.procrastinate_worker`)
run ``App.run_worker_async`` on the session's queue, woken by LISTEN/NOTIFY.
Times come from ``procrastinate_events``: ``deferred`` and ``succeeded`` (or
``failed``), written by the database's triggers.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from benchmarks.peers import names
from benchmarks.peers.base import CLAIM_SKIPPED, PeerClient, PeerTarget

__all__ = ["DEFAULT_CONCURRENCY", "ProcrastinateClient", "ProcrastinateTarget"]

CONCURRENCY_ENV = "TURNOUT_BENCH_PROCRASTINATE_CONCURRENCY"
DEFAULT_CONCURRENCY = 16
"""Jobs a worker process runs at once (Procrastinate's ``concurrency``; its default is 1)."""

CLIENT_POOL_SIZE = 8

PARAMETERS: dict[str, tuple[str, ...]] = {
    names.ONE_ACTIVITY: ("value",),
    names.PICKUP: ("address", "ping_tag"),
}
"""The task's keyword arguments, in the order the workflow takes them; every job also
gets ``tag`` (the workflow id, which the times are read by)."""

TASKS = {names.ONE_ACTIVITY: names.NOOP, names.PICKUP: names.PING}
"""The task each supported workflow becomes."""

_NO_WORKFLOW = "a task queue has no workflows: a job cannot wait for other jobs"
_CLOSED = "('succeeded', 'failed', 'cancelled', 'aborted')"


class ProcrastinateClient(PeerClient):
    """Defers jobs through a ``procrastinate.App``."""

    def __init__(self, url: str, app: Any) -> None:
        super().__init__(url)
        self._app = app

    @classmethod
    async def open(cls, url: str) -> ProcrastinateClient:
        """A client with its connection pool open."""
        from procrastinate import App, PsycopgConnector

        app = App(connector=PsycopgConnector(conninfo=url, min_size=1, max_size=CLIENT_POOL_SIZE))
        await app.open_async()
        return cls(url, app)

    async def start(self, name: str, values: list[Any], workflow_id: str, queue: str) -> None:
        kwargs = dict(zip(PARAMETERS[name], values, strict=True))
        deferrer = self._app.configure_task(TASKS[name], queue=queue)
        await deferrer.defer_async(tag=workflow_id, **kwargs)

    async def close(self) -> None:
        await self._app.close_async()


class ProcrastinateTarget(PeerTarget):
    """Procrastinate 3.x: a queue per session, ``K`` worker processes on it."""

    name = executor = "procrastinate"
    package = "procrastinate"
    worker_module = "benchmarks.peers.procrastinate_worker"
    supported: ClassVar[frozenset[str]] = frozenset({"one_activity", "idle"})
    reasons: ClassVar[dict[str, str]] = {
        "sequential": _NO_WORKFLOW,
        "fan_out": _NO_WORKFLOW,
        "signal": "a task queue has no messages to a running job",
        "claim": CLAIM_SKIPPED,
    }
    closed_sql = (
        "SELECT count(*) FROM procrastinate_jobs"
        f" WHERE starts_with(args->>'tag', %s) AND status IN {_CLOSED}"
    )
    times_sql = (
        "SELECT j.args->>'tag',"
        " CASE j.status WHEN 'succeeded' THEN 'completed' ELSE j.status::text END,"
        " min(e.at) FILTER (WHERE e.type = 'deferred'),"
        f" max(e.at) FILTER (WHERE e.type::text IN {_CLOSED})"
        " FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id"
        " WHERE starts_with(j.args->>'tag', %s) GROUP BY j.id"
    )

    def __init__(
        self, worker_processes: int, *, database_url: str | None = None, durable: bool = False
    ) -> None:
        super().__init__(worker_processes, database_url=database_url, durable=durable)
        self.concurrency = int(os.environ.get(CONCURRENCY_ENV, DEFAULT_CONCURRENCY))

    def prepare(self, url: str) -> None:
        import psycopg
        from procrastinate.schema import SchemaManager

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SchemaManager.get_schema())

    async def connect(self, url: str) -> PeerClient:
        return await ProcrastinateClient.open(url)

    def worker_args(self, url: str) -> list[str]:
        return ["--database-url", url, "--concurrency", str(self.concurrency)]

    def details(self) -> dict[str, Any]:
        return {
            "worker_concurrency": self.concurrency,
            "note": "a task queue, not a workflow engine: one_activity is one job deferred "
            "and run, not a durable workflow with an activity; "
            f"{self.worker_processes} worker processes, {self.concurrency} jobs at once each "
            f"({CONCURRENCY_ENV}), woken by LISTEN/NOTIFY",
        }
