"""A worker's presence in the workers table: it joins when it starts, its heartbeat (from
the reaper loop, every few seconds) keeps it fresh, and it leaves on shutdown. Readers
tell a live worker from one that died by how long ago it was seen."""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta

from turnout.contracts.workers import WorkerInfo
from turnout.executors.internal.store.base import Store
from turnout.executors.internal.store.sql import utcnow

__all__ = ["HEARTBEAT_SECONDS", "Presence"]

_log = logging.getLogger("turnout.worker")

HEARTBEAT_SECONDS = 5.0
"""How often a running worker says it is there."""
PRUNE_EVERY_SECONDS = 300.0
"""How often a worker removes the rows of workers that died long ago."""
PRUNE_AFTER_SECONDS = 3600.0
"""A worker not seen for this long (it died without leaving) is removed from the table."""


class Presence:
    """One worker's row of the workers table."""

    def __init__(
        self,
        store: Store,
        tenant_id: str,
        *,
        identity: str,
        task_queue: str,
        workflow_types: list[str],
        activity_types: list[str],
        max_workflow_tasks: int,
        max_activities: int,
    ) -> None:
        self._store = store
        self._tenant_id = tenant_id
        now = utcnow()
        self._info = WorkerInfo(
            identity=identity,
            task_queue=task_queue,
            last_seen_at=now,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=now,
            workflow_types=sorted(workflow_types),
            activity_types=sorted(activity_types),
            max_workflow_tasks=max_workflow_tasks,
            max_activities=max_activities,
        )
        self._next_beat = 0.0
        self._next_prune = 0.0

    async def join(self) -> None:
        """Record the worker as running."""
        now = utcnow()
        info = self._info.model_copy(update={"last_seen_at": now, "started_at": now})
        await self._store.join_worker(self._tenant_id, info)
        self._next_beat = time.monotonic() + HEARTBEAT_SECONDS

    async def beat(self) -> None:
        """Say the worker is there, once every :data:`HEARTBEAT_SECONDS`; prune the
        workers that died long ago."""
        if time.monotonic() < self._next_beat:
            return
        self._next_beat = time.monotonic() + HEARTBEAT_SECONDS
        now = utcnow()
        try:
            if not await self._store.worker_seen(self._info.identity, now):
                info = self._info.model_copy(update={"last_seen_at": now})
                await self._store.join_worker(self._tenant_id, info)
            if time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                await self._store.prune_workers(now - timedelta(seconds=PRUNE_AFTER_SECONDS))
        except Exception as exc:  # a busy or absent database: the next beat tries again
            _log.debug("worker %s heartbeat failed: %s", self._info.identity, exc)

    async def leave(self) -> None:
        """Forget the worker (it stops); a database out of reach only delays that."""
        try:
            await self._store.leave_worker(self._info.identity)
        except Exception as exc:
            _log.warning(
                "worker %s could not leave the workers table: %s", self._info.identity, exc
            )
