"""Records of what was asked (Task), each execution (Run), and what governs them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr

from turnout.contracts.errors import Failure
from turnout.contracts.memo import NO_DEFAULT, memo_value
from turnout.contracts.pending import (
    PendingActivity,
    PendingChildWorkflow,
    PendingSignal,
    PendingUpdate,
)
from turnout.contracts.search_attributes import (
    TypedSearchAttributes,
    typed_from_stored,
    untyped_from_stored,
)
from turnout.contracts.states import RunState, WorkflowExecutionStatus

__all__ = [
    "Artifact",
    "DecisionOutcome",
    "IdConflictPolicy",
    "IdReusePolicy",
    "ParentClosePolicy",
    "PolicyDecision",
    "QueueItem",
    "QueueItemKind",
    "QueueItemState",
    "Run",
    "Task",
]

DEFAULT_TENANT = "default"


class IdReusePolicy(StrEnum):
    """May a new run take a workflow id whose previous run is closed? (Temporal's names.)"""

    ALLOW_DUPLICATE = "allow_duplicate"
    ALLOW_DUPLICATE_FAILED_ONLY = "allow_duplicate_failed_only"
    REJECT_DUPLICATE = "reject_duplicate"


class IdConflictPolicy(StrEnum):
    """What a start does when a run with the same workflow id is still open."""

    FAIL = "fail"
    USE_EXISTING = "use_existing"
    TERMINATE_EXISTING = "terminate_existing"


class ParentClosePolicy(StrEnum):
    """What happens to a child workflow still open when its parent's run closes
    (Temporal's names; ``TERMINATE`` is the default, as there)."""

    TERMINATE = "terminate"
    """The child is terminated (``workflow_terminated``, reason ``parent closed``)."""
    REQUEST_CANCEL = "request_cancel"
    """The child is asked to cancel (``workflow_cancel_requested``) and may clean up."""
    ABANDON = "abandon"
    """The child goes on running on its own."""


class Task(BaseModel):
    """What was asked: one start request, shared by the runs it leads to."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    tenant_id: str = DEFAULT_TENANT
    input: list[Any] = []
    idempotency_key: str | None = None
    correlation_id: str
    requested_at: datetime


class Run(BaseModel):
    """One execution of a task, with its state and outcome."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    tenant_id: str = DEFAULT_TENANT
    correlation_id: str
    state: RunState
    attempt: int = 1
    requested_at: datetime
    started_at: datetime | None = None
    closed_at: datetime | None = None
    result: Any = None
    failure: Failure | None = None
    parent_workflow_id: str | None = None
    parent_run_id: str | None = None
    continued_from_run_id: str | None = None
    memo_values: dict[str, Any] = {}
    """The run's memo as JSON values (``await memo()`` is Temporal's way to read it)."""
    search_attribute_values: dict[str, Any] = {}
    """The run's search attributes, each name's ``{"type", "value"}`` (JSON)."""
    pending_activities: list[PendingActivity] = []
    """What ``describe()`` shows of the activities the run waits on (empty in listings)."""
    pending_children: list[PendingChildWorkflow] = []
    """What ``describe()`` shows of the child workflows the run waits on."""
    pending_signals: list[PendingSignal] = []
    """Signals received that no workflow task has handled yet (``describe()``)."""
    pending_updates: list[PendingUpdate] = []
    """Updates accepted whose handlers have not returned (``describe()``)."""
    stuck_reason: str | None = None
    """Why no worker can move the open run forward, when ``describe()`` can tell (no
    worker polls its task queue; on the internal executor also: none of them runs its
    workflow type)."""
    _cron_schedule: str | None = PrivateAttr(default=None)
    """A cron workflow's schedule, where the executor keeps it (the internal executor's
    handle follows such a run's close to the next run, as temporalio's does)."""
    _chain: str | None = PrivateAttr(default=None)
    """What the runs of one chain (a start, then continue-as-new, retries, cron) share,
    where the executor keeps it."""

    @property
    def typed_search_attributes(self) -> TypedSearchAttributes:
        """The run's search attributes (temporalio's ``typed_search_attributes``)."""
        return typed_from_stored(self.search_attribute_values)

    @property
    def search_attributes(self) -> dict[str, list[Any]]:
        """The search attributes untyped, each name to a list of values (temporalio's
        deprecated form)."""
        return untyped_from_stored(self.search_attribute_values)

    async def memo(self) -> dict[str, Any]:
        """The run's memo, its values unconverted (temporalio's ``describe().memo()``)."""
        return dict(self.memo_values)

    async def memo_value(
        self, key: str, default: Any = NO_DEFAULT, *, type_hint: Any = None
    ) -> Any:
        """The memo's value of ``key`` converted to ``type_hint``; ``default`` when the
        key is missing (KeyError without one)."""
        return memo_value(self.memo_values, key, default, type_hint)

    # Temporal's names for the same facts (``WorkflowExecutionDescription``), so code
    # written against temporalio's ``describe()`` reads them unchanged.
    @property
    def id(self) -> str:
        """The workflow id (Temporal's name for ``workflow_id``)."""
        return self.workflow_id

    @property
    def status(self) -> WorkflowExecutionStatus:
        """The run's status in Temporal's terms: ``RUNNING`` while it is open in any
        state (queued, claimed, running, waiting on an approval); ``state`` is finer."""
        return self.state.execution_status

    @property
    def start_time(self) -> datetime:
        """When the run was requested (Temporal's start time)."""
        return self.requested_at

    @property
    def close_time(self) -> datetime | None:
        """When the run closed (None while it is open)."""
        return self.closed_at

    @property
    def parent_id(self) -> str | None:
        """The parent's workflow id, for a child run."""
        return self.parent_workflow_id


class DecisionOutcome(StrEnum):
    """The outcome of a policy decision or a human approval."""

    ALLOW = "allow"
    DENY = "deny"
    REQUIRE_APPROVAL = "require_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"


class PolicyDecision(BaseModel):
    """A recorded allow / deny / require-approval decision: who, when and why."""

    model_config = ConfigDict(frozen=True)

    decision_id: str
    run_id: str
    workflow_id: str
    tenant_id: str = DEFAULT_TENANT
    name: str
    outcome: DecisionOutcome
    decided_by: str | None = None
    reason: str | None = None
    decided_at: datetime
    attributes: dict[str, Any] = {}

    @property
    def approved(self) -> bool:
        """True when the decision lets the work go on (``allow`` or ``approved``)."""
        return self.outcome in (DecisionOutcome.ALLOW, DecisionOutcome.APPROVED)


class Artifact(BaseModel):
    """Metadata of a log, summary or file that an activity produced."""

    model_config = ConfigDict(frozen=True)

    artifact_id: str
    run_id: str
    workflow_id: str
    tenant_id: str = DEFAULT_TENANT
    name: str
    uri: str
    media_type: str = "application/octet-stream"
    size_bytes: int | None = None
    digest: str | None = None
    created_at: datetime
    attributes: dict[str, Any] = {}


class QueueItemKind(StrEnum):
    """What a queue item asks a worker to do."""

    WORKFLOW_TASK = "workflow_task"
    ACTIVITY_TASK = "activity_task"
    TIMER = "timer"


class QueueItemState(StrEnum):
    """``queued -> claimed -> running -> completed | failed | canceled | dead``.

    * ``queued``: ready once ``available_at`` has passed. In: enqueue, retry,
      lease expiry (adopt-first), graceful release.
    * ``claimed``: a worker holds the lease. ``running``: its code runs.
    * ``completed`` / ``failed`` / ``canceled`` / ``dead``: final; ``dead`` is
      the dead letter of an item whose retries are exhausted.
    """

    QUEUED = "queued"
    CLAIMED = "claimed"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    DEAD = "dead"


class QueueItem(BaseModel):
    """A read-only view of one queue item."""

    model_config = ConfigDict(frozen=True)

    id: int
    kind: QueueItemKind
    state: QueueItemState
    task_queue: str
    tenant_id: str = DEFAULT_TENANT
    run_id: str
    workflow_id: str
    name: str | None = None
    priority: int = 0
    attempt: int = 1
    available_at: datetime
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    idempotency_key: str | None = None
