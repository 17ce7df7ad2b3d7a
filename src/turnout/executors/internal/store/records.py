"""The store's typed records: what its operations take and what they return.

The params records come first: one per operation with knobs (see the package docstring).

Nothing SQLAlchemy leaves the store: a run's row is read into a :class:`RunSnapshot`,
a leased queue item into a :class:`ClaimedItem`, events into contract ``Event`` records.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from turnout.contracts.errors import Failure
from turnout.contracts.events import Event, EventType
from turnout.contracts.records import (
    DEFAULT_TENANT,
    IdConflictPolicy,
    IdReusePolicy,
    PolicyDecision,
)
from turnout.contracts.states import RunState
from turnout.contracts.updates import UpdateState
from turnout.contracts.visibility import Query
from turnout.executors.internal.commands import Command
from turnout.executors.internal.store.activity_task import ActivityTask

__all__ = [
    "ActivityLookup",
    "ActivityTask",
    "ApprovalFilter",
    "ClaimParams",
    "ClaimedItem",
    "Closed",
    "EagerClaim",
    "EventSpec",
    "ExpiredRunsParams",
    "FailActivityParams",
    "FireTimersParams",
    "NewRun",
    "RunFilter",
    "RunInfo",
    "RunSnapshot",
    "SignalParams",
    "StartParams",
    "StartResult",
    "UpdateRecord",
    "UpdateRequestParams",
    "WorkflowTaskCommit",
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
    run_timeout: float | None = None
    """Seconds this run may take (each run of a continue-as-new chain anew)."""
    task_timeout: float | None = None
    """Seconds a worker may hold one of the run's workflow tasks (the lease it takes on
    it), so that a task whose worker died is retried that soon; None: the worker's own."""
    parent: tuple[str, str, str] | None = None
    """(parent workflow id, parent run id, child seq) for child workflows."""
    parent_close_policy: str | None = None
    """A child's ``ParentClosePolicy`` value: what its parent's close does to it."""
    signal: tuple[str, list[Any]] | None = None
    """Signal-with-start: the signal's name and encoded arguments, delivered to the new
    run before its code starts, or to the open run the start uses."""
    memo: dict[str, Any] = field(default_factory=dict)
    """The run's memo (JSON values)."""
    search_attributes: dict[str, Any] = field(default_factory=dict)
    """The run's search attributes (each name's ``{"type", "value"}``)."""
    cron_schedule: str | None = None
    """A cron workflow's schedule: its first task waits for the next time, and a run that
    completes or fails is followed by the next one (as on Temporal)."""
    header: dict[str, Any] = field(default_factory=dict)
    """The payloads the caller's interceptors set: the run's code sees them (and a
    signal-with-start's signal handler)."""


@dataclass(frozen=True)
class ClaimParams:
    """What ``claim`` leases: up to ``workflow_tasks`` and ``activities`` ready items of
    ``task_queue`` (only ``tenant_id``'s, when given) to ``owner``."""

    task_queue: str
    owner: str
    workflow_tasks: int
    activities: int
    workflow_lease: float
    """Seconds a claimed workflow task is leased for (an activity's lease follows its
    timeouts)."""
    tenant_id: str | None = None
    peek: bool = True
    """Read first whether anything is ready, so that polling an empty queue takes no
    write lock (an idle worker's claims)."""
    seen: Callable[[str], int] | None = None
    """How far the worker has seen a run (the last seq of the instance it holds; 0:
    none). Given, and where the store sends its ``COMMIT`` with other statements, a
    claimed workflow task of a run the worker holds comes with its events after that."""


@dataclass(frozen=True)
class FireTimersParams:
    """Which due timers ``fire_timers`` fires: up to ``limit`` of ``task_queue`` (only
    ``tenant_id``'s, when given)."""

    task_queue: str
    limit: int = 100
    tenant_id: str | None = None
    peek: bool = True
    """Read first whether any is due, so that polling takes no write lock."""


@dataclass(frozen=True)
class WorkflowTaskCommit:
    """A workflow task's outcome to commit (``commit_workflow_task``)."""

    item: ClaimedItem
    expected_task_count: int
    """The run's workflow task count the task read: the commit holds only if no other
    task of the run committed meanwhile."""
    processed_through: int
    """The last seq of the history the task's code processed."""
    time: datetime
    """The workflow time the task ran at."""
    commands: Sequence[Command]
    decisions: Sequence[PolicyDecision] = ()
    """Policy decisions recorded with the task (a start policy's, on its first)."""
    eager: EagerClaim | None = None
    """The committing worker takes at once the activities it schedules that it runs."""
    seen_through: int | None = None
    """The last seq the task read: when nothing arrived after it, no other worker is
    woken."""
    run: RunSnapshot | None = None
    """The run's row as the task read it (saves reading it again); the commit holds only
    if the run is still in that state."""
    sticky: bool = False
    """The committing worker keeps the run's instance cached: the run's next workflow
    tasks are offered to it first (sticky execution)."""
    children: bool = True
    """The run may have started children (their parent close policy is then applied when
    this task closes the run); False saves looking for them."""


@dataclass(frozen=True)
class ActivityLookup:
    """Which activity attempt ``running_activity`` reads: the queue item ``item_id`` at
    ``attempt`` (what a task token names), or the activity ``activity_id`` of the run
    ``run_id`` of ``workflow_id`` (``run_id`` None: its open run)."""

    item_id: int | None = None
    attempt: int | None = None
    workflow_id: str | None = None
    run_id: str | None = None
    activity_id: str | None = None


@dataclass(frozen=True)
class SignalParams:
    """The signal ``signal`` delivers: ``name`` with ``args`` (and the interceptors'
    ``header``) to the open run ``run_id`` of ``tenant_id`` (of ``workflow_id``, when
    given). With ``run_id`` None, to the open run of ``workflow_id``."""

    tenant_id: str
    run_id: str | None
    name: str
    args: list[Any]
    header: dict[str, Any] | None = None
    workflow_id: str | None = None


@dataclass(frozen=True)
class FailActivityParams:
    """How ``fail_activity`` ends a failed attempt: queue the next one after
    ``retry_in`` seconds, or (None) record the activity's final failure."""

    retry_in: float | None
    final_type: EventType = EventType.ACTIVITY_FAILED
    """The event of a final failure (``activity_failed`` or ``activity_timed_out``)."""
    dead: bool = True
    """A final failure dead-letters the item (retries ran out); False ends it
    ``failed`` (a non-retryable failure)."""
    extra: Sequence[EventSpec] = ()
    """Events appended before the failure's own (the reaper's ``lease_expired``)."""
    heartbeat_details: list[Any] | None = None
    """The attempt's last heartbeat, not yet written: the next attempt starts from it."""
    expired_before: datetime | None = None
    """The write holds only if the lease had expired by then (the reaper's): a
    heartbeat that extended it meanwhile wins."""


@dataclass(frozen=True)
class RunFilter:
    """Which of a tenant's runs ``list_runs`` reads: those matching every field given,
    newest first, at most ``limit``."""

    state: RunState | None = None
    workflow_type: str | None = None
    task_queue: str | None = None
    limit: int = 100
    before: tuple[datetime, str] | None = None
    """A keyset bound ``(requested_at, run_id)``: only the runs that sort after it."""
    query: Query | None = None
    """A parsed list query the runs must match, and its order."""
    offset: int = 0
    """Runs of the order skipped first (for a query's own order, which has no keyset)."""


@dataclass(frozen=True)
class ScheduleChange:
    """What ``change_schedule`` changes: the whole schedule (``stored``, its checked
    stored form), or whether it is paused, with a note (None: leave it)."""

    stored: dict[str, Any] | None = None
    paused: bool | None = None
    note: str | None = None


@dataclass(frozen=True)
class ApprovalFilter:
    """Which of a tenant's pending approvals ``pending_approvals`` reads: those of runs
    of ``workflow_type`` (any, when None), oldest first, at most ``limit``."""

    workflow_type: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class ExpiredRunsParams:
    """Which open runs past their execution deadline ``expired_runs`` reads: at most
    ``limit``, oldest deadline first, none of ``skip`` (runs the reaper set aside)."""

    limit: int = 100
    skip: Sequence[str] = ()


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
    history: tuple[RunSnapshot, list[Event]] | None = field(default=None, compare=False, repr=False)
    """A workflow task's run and its events after :attr:`history_after`, read by the
    claim: a run's first task, or (PostgreSQL) a task of a run whose instance the
    claiming worker holds (``ClaimParams.seen``, ``EagerClaim.seen``)."""
    history_after: int = field(default=0, compare=False, repr=False)
    """The seq :attr:`history` starts after (0: the whole history)."""

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
    seen: dict[str, int] = field(default_factory=dict)
    """The last seq the worker has seen of runs whose instances it holds: a task claimed
    for one of them comes with the events after it, read with the claim where the
    dialect pipelines. Other tasks read their histories themselves."""


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
    memo: dict[str, Any] | None
    """The run's memo as it is now (its start's, with the upserts so far)."""
    search_attributes: dict[str, Any] | None
    """The run's search attributes as they are now."""
    sticky_worker: str | None
    """The worker that committed the run's last workflow task."""


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
    sticky_worker: str | None = None
    """The worker that committed the run's last workflow task."""


class Closed(NamedTuple):
    """A run a transaction closed: its final state, result and failure."""

    run_id: str
    target: RunState
    result: Any
    failure: Failure | None
    children: bool = True
    """The run may have children to apply its parent close policy to."""


@dataclass(frozen=True)
class UpdateRequestParams:
    """An update request for ``request_update``."""

    tenant_id: str
    workflow_id: str
    run_id: str
    update_id: str
    name: str
    args: list[Any]
    """The encoded arguments."""
    header: dict[str, Any] = field(default_factory=dict)
    """The payloads the caller's interceptors set."""


@dataclass(frozen=True)
class UpdateRecord:
    """An update request as it stands: what its caller waits on."""

    run_id: str
    update_id: str
    name: str
    state: UpdateState
    result: Any = None
    """The encoded result, once ``completed`` without a failure."""
    failure: dict[str, Any] | None = None
    """The failure of a ``rejected`` update, or of a ``completed`` one whose handler failed."""
