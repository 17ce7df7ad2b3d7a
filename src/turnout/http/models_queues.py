"""The bodies of ``GET /queues`` and ``GET /workers``: each task queue's figures and the
workers polling it.

A worker is the contracts' :class:`~turnout.contracts.workers.WorkerInfo`, serialised as
it is; :mod:`turnout.http.models` re-exports these bodies.
"""

from __future__ import annotations

from pydantic import BaseModel

from turnout.contracts.workers import WorkerInfo

__all__ = ["QueueList", "QueueView", "WorkerList"]


class QueueView(BaseModel):
    """One task queue: its figures (where the executor keeps them) and its live workers."""

    task_queue: str
    depth: int | None = None
    """Items ready to be claimed now (null where the executor keeps no figures: Temporal)."""
    depth_by_kind: dict[str, int] | None = None
    lag_seconds: float | None = None
    """Age of the oldest ready item (0 when none is ready)."""
    leased: int | None = None
    """Items a worker holds."""
    dead_letters: int | None = None
    workers: list[WorkerInfo] = []
    """The workers polling the queue, by identity."""
    no_worker: bool = False
    """True when the queue has work (items ready or held) and no worker polls it; on
    Temporal, whose figures are not read here, when no worker polls the queue named."""


class QueueList(BaseModel):
    """Task queues with their figures and workers; ``note`` says what is not available."""

    items: list[QueueView]
    note: str | None = None


class WorkerList(BaseModel):
    """The live workers of the tenant (of one task queue), by queue and identity."""

    items: list[WorkerInfo]
