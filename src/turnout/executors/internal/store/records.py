"""The store's typed records: what its operations take and what they return.

Nothing SQLAlchemy leaves the store: a run's row is read into a :class:`RunSnapshot`,
a leased queue item into a :class:`ClaimedItem`, events into contract ``Event`` records.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from turnout.contracts.errors import Failure
from turnout.contracts.events import EventType
from turnout.contracts.records import DEFAULT_TENANT, IdConflictPolicy, IdReusePolicy
from turnout.contracts.states import RunState

__all__ = [
    "ActivityTask",
    "ClaimedItem",
    "Closed",
    "EagerClaim",
    "EventSpec",
    "NewRun",
    "RunInfo",
    "RunSnapshot",
    "StartParams",
    "StartResult",
]

EventSpec = tuple[EventType, dict[str, Any]]
"""An event to append: its type and attributes (the store gives it its seq)."""


@dataclass(frozen=True)
class StartParams:
    """Everything ``start_workflow`` needs."""

    workflow_id: str
    workflow_type: str
    task_queue: str
    input: list[Any]
    tenant_id: str = DEFAULT_TENANT
    correlation_id: str | None = None
    idempotency_key: str | None = None
    id_reuse_policy: IdReusePolicy = IdReusePolicy.ALLOW_DUPLICATE
    id_conflict_policy: IdConflictPolicy = IdConflictPolicy.FAIL
    execution_timeout: float | None = None
    parent: tuple[str, str, str] | None = None
    """(parent workflow id, parent run id, child seq) for child workflows."""


@dataclass(frozen=True)
class NewRun:
    """A run to create: what starts it, its task, and where it comes from."""

    params: StartParams
    task_id: str
    correlation_id: str
    continued_from: str | None = None
    attempt: int = 1
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class StartResult:
    """The run a start resolved to; ``created`` is False when an existing run was reused."""

    run_id: str
    created: bool


class ActivityTask:
    """What an activity item's payload says (``ClaimedItem.activity``): the one place its
    keys are read. Timeouts are seconds (None: not set).

    Each field is read when first asked for, then kept. :attr:`activity_id` reads from any
    payload, so the store records an attempt's outcome whatever its options hold. From a
    payload stored before its values were checked (an older release) another field may
    raise ValueError or TypeError; :meth:`read` reads every field at once, so that the
    caller fails that activity, saying why, before using any of them.
    """

    def __init__(self, payload: Mapping[str, Any]) -> None:
        self._payload = payload

    def __repr__(self) -> str:
        return f"ActivityTask(activity_id={self.activity_id!r})"

    def read(self) -> ActivityTask:
        """This task, every field read (the first one that cannot be read raises)."""
        _ = (
            self.input,
            self.workflow_type,
            self.scheduled_at,
            self.start_to_close_timeout,
            self.schedule_to_close_timeout,
            self.heartbeat_timeout,
            self.retry_policy,
            self.headers,
        )
        return self

    @functools.cached_property
    def activity_id(self) -> str:
        """The activity's id (never raises)."""
        return str(self._payload.get("activity_id"))

    @functools.cached_property
    def input(self) -> list[Any]:
        """The JSON arguments of the activity."""
        return list(self._payload.get("input") or [])

    @functools.cached_property
    def workflow_type(self) -> str:
        """The type of the workflow that scheduled it."""
        return str(self._payload.get("workflow_type") or "")

    @functools.cached_property
    def scheduled_at(self) -> str | None:
        """When it was scheduled (ISO 8601), if recorded."""
        return self._payload.get("scheduled_at") or None

    @functools.cached_property
    def start_to_close_timeout(self) -> float | None:
        """The longest one attempt may run."""
        return _seconds(self._payload.get("start_to_close_timeout"))

    @functools.cached_property
    def schedule_to_close_timeout(self) -> float | None:
        """The longest all attempts together may take."""
        return _seconds(self._payload.get("schedule_to_close_timeout"))

    @functools.cached_property
    def heartbeat_timeout(self) -> float | None:
        """The longest an attempt may go without a heartbeat."""
        return _seconds(self._payload.get("heartbeat_timeout"))

    @functools.cached_property
    def retry_policy(self) -> dict[str, Any]:
        """The retry policy, as stored (a RetryPolicy's JSON)."""
        return dict(self._payload.get("retry_policy") or {})

    @functools.cached_property
    def headers(self) -> dict[str, str]:
        """The context that travels with it (correlation id, trace context)."""
        return dict(self._payload.get("headers") or {})


def _seconds(value: Any) -> float | None:
    return float(value) if value else None


@dataclass(frozen=True)
class ClaimedItem:
    """A queue item this worker holds the lease on."""

    id: int
    kind: str
    run_id: str
    workflow_id: str
    tenant_id: str
    task_queue: str
    name: str | None
    ref: str | None
    payload: dict[str, Any]
    attempt: int
    lease_owner: str
    lease_expires_at: datetime
    started_at: datetime
    deadline_at: datetime | None
    heartbeat_details: list[Any] | None
    created_at: datetime
    heartbeat_at: datetime | None = None

    @functools.cached_property
    def activity(self) -> ActivityTask:
        """The activity task of an activity item (made once: it keeps what it reads)."""
        return ActivityTask(self.payload)


@dataclass
class EagerClaim:
    """Work a worker takes in the same transaction that creates it (no claim round trip).

    ``limit`` items at most, of the ``names`` it runs, on its ``task_queue``, leased to
    ``owner``; the store appends what it claimed to ``claimed``.
    """

    owner: str
    task_queue: str
    names: frozenset[str]
    limit: int
    workflow_lease: float = 30.0
    claimed: list[ClaimedItem] = field(default_factory=list)


class RunSnapshot(NamedTuple):
    """A run as one read saw it: every column of ``turnout_runs``, by name.

    What ``load_histories`` returns beside the events, and what a workflow task's commit
    is guarded by (its ``state`` and ``workflow_task_count``). A named tuple: made from a
    row without per-field work, on the hottest read path. The fields are in the table's
    column order (a test pins it).
    """

    run_id: str
    task_id: str
    tenant_id: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    correlation_id: str
    state: str
    """The :class:`RunState` value."""
    attempt: int
    input: Any
    """The JSON arguments the run was started with."""
    result: Any
    failure: dict[str, Any] | None
    requested_at: datetime
    started_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    execution_deadline: datetime | None
    parent_workflow_id: str | None
    parent_run_id: str | None
    parent_ref: str | None
    continued_from_run_id: str | None
    next_seq: int
    workflow_task_count: int
    cancel_requested: bool
    options: dict[str, Any] | None


@dataclass(frozen=True)
class RunInfo:
    """The fixed columns of a run a transaction has already locked or created."""

    run_id: str
    tenant_id: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    correlation_id: str
    parent_run_id: str | None
    parent_ref: str | None


class Closed(NamedTuple):
    """A run a transaction closed: its final state, result and failure."""

    run_id: str
    target: RunState
    result: Any
    failure: Failure | None
