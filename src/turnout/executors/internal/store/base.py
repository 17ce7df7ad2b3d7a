"""The internal store: domain-level operations on the queue, runs and events.

One implementation on SQLAlchemy Core serves PostgreSQL and SQLite; the
dialect subclasses override small hooks only (engine set-up, retryable errors,
notifications). Every state change is a guarded ``UPDATE ... WHERE state IN
(...)``: a write that lost a race changes zero rows and is reported, never
applied over the winner. The operations are grouped by role, one module each.
"""

from __future__ import annotations

from turnout.executors.internal.store.activities import ActivityOperations
from turnout.executors.internal.store.errors import StaleTaskError, UnhandledSignalError
from turnout.executors.internal.store.figures import FigureOperations
from turnout.executors.internal.store.governance import GovernanceOperations
from turnout.executors.internal.store.maintenance import MaintenanceOperations
from turnout.executors.internal.store.pending import PendingOperations
from turnout.executors.internal.store.protocol import StoreProtocol
from turnout.executors.internal.store.queries import QueryOperations
from turnout.executors.internal.store.queue import QueueOperations
from turnout.executors.internal.store.records import (
    ClaimedItem,
    EagerClaim,
    EventSpec,
    RunSnapshot,
    StartParams,
    StartResult,
)
from turnout.executors.internal.store.runs import RunOperations
from turnout.executors.internal.store.schedules import ScheduleOperations
from turnout.executors.internal.store.sql import utcnow
from turnout.executors.internal.store.workers import WorkerOperations
from turnout.executors.internal.store.workflow_tasks import WorkflowTaskOperations

__all__ = [
    "ClaimedItem",
    "EagerClaim",
    "EventSpec",
    "RunSnapshot",
    "StaleTaskError",
    "StartParams",
    "StartResult",
    "Store",
    "StoreProtocol",
    "UnhandledSignalError",
    "utcnow",
]


class Store(
    ScheduleOperations,
    RunOperations,
    WorkflowTaskOperations,
    ActivityOperations,
    QueueOperations,
    MaintenanceOperations,
    GovernanceOperations,
    FigureOperations,
    QueryOperations,
    PendingOperations,
    WorkerOperations,
):
    """Every domain-level operation of the internal store; see the module docstring."""


def _implements(store: Store) -> StoreProtocol:
    """Never called: mypy checks here that :class:`Store` implements the protocol."""
    return store
