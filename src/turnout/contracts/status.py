"""What ``turnout status`` shows, as records every executor's client can report: per task
queue, depth, lag, throughput, the workers holding leases and their slots in use; and the
latest failures (see ``OperatorClient.status``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from turnout.contracts.events import EventType

__all__ = ["FAILURE_EVENTS", "QueueStatus", "Snapshot"]

FAILURE_EVENTS = (
    EventType.ACTIVITY_FAILED,
    EventType.ACTIVITY_TIMED_OUT,
    EventType.DEAD_LETTERED,
    EventType.LEASE_EXPIRED,
    EventType.WORKFLOW_TASK_FAILED,
    EventType.WORKFLOW_FAILED,
    EventType.WORKFLOW_TIMED_OUT,
)
"""The events listed as recent failures."""


@dataclass
class QueueStatus:
    """One task queue."""

    task_queue: str
    depth: int = 0
    lag_seconds: float = 0.0
    leased: int = 0
    workers: dict[str, int] = field(default_factory=dict)
    """Worker identity -> items it holds leases on (its slots in use)."""
    completed_last_minute: int = 0
    dead: int = 0


@dataclass
class Snapshot:
    """Everything one refresh of ``turnout status`` shows."""

    at: datetime
    queues: list[QueueStatus]
    failures: list[dict[str, Any]]
    runs: dict[str, int]
