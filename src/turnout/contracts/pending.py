"""What an open run waits on, as ``describe()`` shows it on every executor: its pending
activities (Temporal's pending-activity view: attempt, state, last failure, next retry,
last heartbeat) and its pending child workflows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from turnout.contracts.errors import Failure

__all__ = ["PendingActivity", "PendingActivityState", "PendingChildWorkflow"]


class PendingActivityState(StrEnum):
    """Where a pending activity is (Temporal's ``PendingActivityState``)."""

    SCHEDULED = "scheduled"
    """Waiting for a worker: its first attempt, or a retry after its backoff."""
    STARTED = "started"
    """An attempt runs on a worker."""
    CANCEL_REQUESTED = "cancel_requested"
    """The workflow asked it to cancel; it has not stopped yet."""


class PendingActivity(BaseModel):
    """An activity of an open run that has not finished."""

    model_config = ConfigDict(frozen=True)

    activity_id: str
    activity_type: str
    state: PendingActivityState
    attempt: int
    """The attempt running, or the one waiting to run (1 for the first)."""
    maximum_attempts: int = 0
    """The retry policy's limit (0: unlimited)."""
    scheduled_time: datetime | None = None
    last_started_time: datetime | None = None
    last_heartbeat_time: datetime | None = None
    heartbeat_details: list[Any] = []
    last_failure: Failure | None = None
    """Why the previous attempt failed (None on the first attempt)."""
    next_attempt_schedule_time: datetime | None = None
    """When the next attempt may start, while it waits for its retry backoff."""
    last_worker_identity: str | None = None


class PendingChildWorkflow(BaseModel):
    """A child workflow of an open run that has not closed."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    run_id: str
    workflow_type: str
