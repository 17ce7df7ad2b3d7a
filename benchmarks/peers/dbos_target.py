"""DBOS Transact as a peer: the benchmark's workflows as DBOS workflows and steps.

The benchmark process enqueues with a ``DBOSClient`` on the session's queue;
``K`` worker processes (:mod:`benchmarks.peers.dbos_worker`), each a launched
DBOS application on the same system database, dequeue from it. DBOS queues are
polled (no notification wakes a worker), every ``polling_interval_sec``:
:data:`DEFAULT_POLLING_INTERVAL` here, ``TURNOUT_BENCH_DBOS_POLLING_INTERVAL``
to change it (DBOS's own default is 1 s). Messages (``send``/``recv``) are woken
by LISTEN/NOTIFY. Times come from ``dbos.workflow_status``: ``created_at`` (the
enqueue) and ``completed_at``, both written by the server's clock.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, ClassVar

from benchmarks.peers import names
from benchmarks.peers.base import PeerClient, PeerTarget

__all__ = ["DEFAULT_POLLING_INTERVAL", "DbosClient", "DbosTarget"]

POLLING_ENV = "TURNOUT_BENCH_DBOS_POLLING_INTERVAL"
DEFAULT_POLLING_INTERVAL = 0.05
"""Seconds between two polls of the queue by a DBOS worker: the interval turnout's own
worker polls at where it has no notifications (SQLite)."""

CLIENT_POOL_SIZE = 8
"""Connections of the benchmark process's ``DBOSClient`` (it enqueues from threads)."""

_TERMINAL = "('SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')"


class DbosClient(PeerClient):
    """Enqueues, sends and waits through ``dbos.DBOSClient``."""

    def __init__(self, url: str) -> None:
        from dbos import DBOSClient

        super().__init__(url)
        self._client = DBOSClient(
            system_database_url=url,
            application_name=names.APPLICATION,
            system_database_pool_size=CLIENT_POOL_SIZE,
        )

    async def start(self, name: str, values: list[Any], workflow_id: str, queue: str) -> None:
        from dbos import EnqueueOptions

        options = EnqueueOptions(workflow_name=name, queue_name=queue, workflow_id=workflow_id)
        await self._client.enqueue_async(options, *values)

    async def signal(self, workflow_id: str, name: str, arg: Any) -> None:
        message = {"finish": True} if name == "finish" else {"tag": arg}
        await self._client.send_async(workflow_id, message, names.ECHO_TOPIC)

    async def result(self, workflow_id: str) -> Any:
        handle = await self._client.retrieve_workflow_async(workflow_id)
        return await handle.get_result()

    async def close(self) -> None:
        await asyncio.to_thread(self._client.destroy)


class DbosTarget(PeerTarget):
    """DBOS Transact 3.x: a queue per session, ``K`` DBOS worker processes dequeuing it."""

    name = executor = "dbos"
    package = "dbos"
    worker_module = "benchmarks.peers.dbos_worker"
    supported: ClassVar[frozenset[str]] = frozenset(
        {"one_activity", "sequential", "fan_out", "signal", "idle"}
    )
    closed_sql = (
        "SELECT count(*) FROM dbos.workflow_status"
        f" WHERE starts_with(workflow_uuid, %s) AND status IN {_TERMINAL}"
    )
    times_sql = (
        "SELECT workflow_uuid,"
        " CASE status WHEN 'SUCCESS' THEN 'completed' ELSE lower(status) END,"
        " to_timestamp(created_at / 1000.0), to_timestamp(completed_at / 1000.0)"
        " FROM dbos.workflow_status WHERE starts_with(workflow_uuid, %s)"
    )

    def __init__(
        self, worker_processes: int, *, database_url: str | None = None, durable: bool = False
    ) -> None:
        super().__init__(worker_processes, database_url=database_url, durable=durable)
        self.polling_interval = float(os.environ.get(POLLING_ENV, DEFAULT_POLLING_INTERVAL))

    def prepare(self, url: str) -> None:
        from dbos import DBOS

        DBOS.migrate(url)

    async def connect(self, url: str) -> PeerClient:
        return await asyncio.to_thread(DbosClient, url)

    def worker_args(self, url: str) -> list[str]:
        return ["--database-url", url, "--polling-interval", repr(self.polling_interval)]

    def details(self) -> dict[str, Any]:
        return {
            "queue_polling_interval_s": self.polling_interval,
            "note": f"DBOS Transact workflows and steps on a DBOS queue, {self.worker_processes} "
            f"worker processes; the queue is polled every {self.polling_interval:g} s "
            f"({POLLING_ENV}; DBOS's default is 1 s), messages are woken by LISTEN/NOTIFY",
        }
