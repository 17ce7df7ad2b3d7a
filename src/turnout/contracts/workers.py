"""The workers polling a task queue, as every executor reports them: on the internal
executor from the workers table their heartbeats keep fresh, on Temporal from the task
queue's pollers."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

__all__ = ["LIVE_WITHIN", "WorkerInfo", "no_worker_reason"]

LIVE_WITHIN = timedelta(seconds=30)
"""A worker not seen for this long is taken for gone (its heartbeat is every 5 s)."""


class WorkerInfo(BaseModel):
    """One worker of a task queue. What an executor does not know is None (Temporal's
    pollers give no host, slots or types)."""

    model_config = ConfigDict(frozen=True)

    identity: str
    task_queue: str
    last_seen_at: datetime
    host: str | None = None
    pid: int | None = None
    started_at: datetime | None = None
    workflow_types: list[str] | None = None
    activity_types: list[str] | None = None
    max_workflow_tasks: int | None = None
    max_activities: int | None = None

    def alive(self, now: datetime) -> bool:
        """True when the worker was seen within :data:`LIVE_WITHIN` of ``now``."""
        return now - self.last_seen_at <= LIVE_WITHIN


def no_worker_reason(task_queue: str) -> str:
    """Why a run no worker polls for does not move (the same words on every executor)."""
    return (
        f"no worker has polled task queue {task_queue!r} in the last "
        f"{int(LIVE_WITHIN.total_seconds())} s: start one with "
        f"turnout worker <module> --task-queue {task_queue}"
    )
