"""The store's domain-level interface: every operation the worker, the client, the
reaper and the HTTP API use, and the capabilities a store declares.

:class:`~turnout.executors.internal.store.base.Store` (SQLAlchemy Core, one for
PostgreSQL and SQLite) implements it; mypy checks that it does. A second implementation
(a PostgreSQL fast path) implements the same protocol and passes the same conformance
suite, ``tests/store/``.

The contract every write keeps: a state change is guarded (``UPDATE ... WHERE state IN
(...)``); a write that lost a race changes nothing and says so (``False``, ``None`` or
:class:`StaleTaskError`), and never lands over the winner. A write from a worker about
an item it claimed holds only while that worker still leases that attempt.

An operation with knobs takes one params record (``records.py``: ``ClaimParams``,
``WorkflowTaskCommit``, ...); what it acts on (an item, a tenant or run id) stays a plain
argument, and so does a lone optional setting.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from turnout.contracts.errors import Failure
from turnout.contracts.events import Event
from turnout.contracts.governance import Approval
from turnout.contracts.listing import WorkflowExecutionCount
from turnout.contracts.pending import PendingActivity, PendingChildWorkflow
from turnout.contracts.records import Artifact, DecisionOutcome, PolicyDecision, Run
from turnout.contracts.schedules import ScheduleOverlapPolicy
from turnout.contracts.visibility import Query
from turnout.contracts.workers import WorkerInfo
from turnout.executors.internal.store.maintenance import PRUNE_BATCH, Lull
from turnout.executors.internal.store.notify import Notifier
from turnout.executors.internal.store.query_records import (
    QueryAnswer,
    QueryClaimParams,
    QueryRequest,
    QueryRequestParams,
)
from turnout.executors.internal.store.records import (
    ActivityLookup,
    ApprovalFilter,
    ClaimedItem,
    ClaimParams,
    EagerClaim,
    ExpiredRunsParams,
    FailActivityParams,
    FireTimersParams,
    RunFilter,
    RunSnapshot,
    ScheduleChange,
    SignalParams,
    StartParams,
    StartResult,
    UpdateRecord,
    UpdateRequestParams,
    WorkflowTaskCommit,
)
from turnout.executors.internal.store.schedules import ScheduleRecord

if TYPE_CHECKING:
    from turnout.executors.internal.store.figures import Figure

__all__ = ["StoreProtocol"]


class StoreProtocol(Protocol):
    """What a store does, in domain terms (runs, queue items, events), never in SQL."""

    url: str
    """Where the store lives (a ``postgresql://`` or ``sqlite:///`` URL)."""
    dialect: str
    """``postgresql`` or ``sqlite``."""
    notifier: Notifier
    """The wake-up board this process's waiters subscribe to."""
    supports_listen_notify: bool
    """Capability: other processes' writes wake this process's waiters (workers may poll
    rarely)."""
    supports_skip_locked: bool
    """Capability: concurrent claims skip each other's rows instead of waiting for one
    write lock."""

    # -- lifecycle ------------------------------------------------------------------------
    async def start_listening(self) -> None:
        """Start receiving other processes' wake-ups (no-op without the capability)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    # -- runs (client) --------------------------------------------------------------------
    async def start_workflow(self, p: StartParams) -> StartResult:
        """Create a task and its first run (``queued``, ``workflow_started`` at seq 1, a
        workflow task queued), honouring the idempotency key and id policies; an existing
        run that the policies reuse comes back with ``created`` False.

        Raises WorkflowAlreadyStartedError when the policies refuse, RefusedValueError
        when the database cannot hold a value (nothing stored)."""
        ...

    async def start_workflows(self, params: Sequence[StartParams]) -> list[StartResult | Exception]:
        """Plain starts (no idempotency key, no terminate-existing) in one transaction; for
        each, its result or the error that refused it alone."""
        ...

    async def find_run(self, tenant_id: str, workflow_id: str, run_id: str | None = None) -> Run:
        """The run (the latest of the workflow id when ``run_id`` is None); raises
        WorkflowNotFoundError."""
        ...

    async def find_runs(
        self, tenant_id: str, wanted: Sequence[tuple[str, str]]
    ) -> list[Run | Exception]:
        """:meth:`find_run` of many ``(workflow_id, run_id)``; a missing one's entry is a
        WorkflowNotFoundError."""
        ...

    async def next_run(self, tenant_id: str, run_id: str) -> Run | None:
        """The run that continued ``run_id`` as new, if any."""
        ...

    async def list_runs(self, tenant_id: str, where: RunFilter) -> list[Run]:
        """A tenant's runs that match ``where`` (its filters and parsed list query),
        newest first or in the query's order, after its keyset bound ``before`` or its
        ``offset``. A query naming a search attribute the tenant never used raises
        InvalidQueryError."""
        ...

    async def count_runs(self, tenant_id: str, query: Query) -> WorkflowExecutionCount:
        """How many of a tenant's runs ``query`` matches (per ExecutionStatus when it
        groups by it)."""
        ...

    async def pending_work(
        self, tenant_id: str, run_id: str
    ) -> tuple[list[PendingActivity], list[PendingChildWorkflow]]:
        """An open run's unfinished activities and open child workflows (describe())."""
        ...

    async def events_since_last_task(self, tenant_id: str, run_id: str) -> list[Event]:
        """The run's events after its last completed workflow task, and its update events
        (what ``describe()`` explains an open run from)."""
        ...

    # -- workers (store/workers.py) ----------------------------------------------------
    async def join_worker(self, tenant_id: str, worker: WorkerInfo) -> None:
        """Record a starting worker (replacing a row of the same identity)."""
        ...

    async def worker_seen(self, identity: str, now: datetime) -> bool:
        """A worker's heartbeat; False when its row is gone."""
        ...

    async def leave_worker(self, identity: str) -> None:
        """Forget a worker that stopped."""
        ...

    async def prune_workers(self, seen_before: datetime) -> int:
        """Forget workers not seen since ``seen_before``; how many."""
        ...

    async def list_workers(self, tenant_id: str, task_queue: str | None = None) -> list[WorkerInfo]:
        """The tenant's workers (of ``task_queue`` when given), live or not."""
        ...

    # -- schedules (store/schedules.py) ------------------------------------------------
    async def create_schedule(
        self,
        tenant_id: str,
        schedule_id: str,
        stored: dict[str, Any],
        memo: dict[str, Any] | None = None,
    ) -> None:
        """Keep a new schedule (its checked stored form); ScheduleAlreadyRunningError when
        the id is taken."""
        ...

    async def get_schedule(self, tenant_id: str, schedule_id: str) -> ScheduleRecord:
        """The stored schedule with its open running actions; ScheduleNotFoundError."""
        ...

    async def list_schedules(self, tenant_id: str) -> list[ScheduleRecord]:
        """The tenant's schedules, by id."""
        ...

    async def delete_schedule(self, tenant_id: str, schedule_id: str) -> None:
        """Forget a schedule; ScheduleNotFoundError when there is none."""
        ...

    async def change_schedule(
        self, tenant_id: str, schedule_id: str, change: ScheduleChange
    ) -> None:
        """Replace a schedule, or pause or unpause it with a note."""
        ...

    async def defer_schedule(self, tenant_id: str, schedule_id: str, until: datetime) -> None:
        """Leave a schedule whose pass failed alone until ``until``."""
        ...

    async def due_schedules(self, now: datetime, limit: int = 100) -> list[tuple[str, str]]:
        """(tenant, schedule id) of the active schedules due by ``now``."""
        ...

    async def fire_schedule(self, tenant_id: str, schedule_id: str) -> int:
        """Act on a schedule's due fires, once each however many workers look; the runs
        started."""
        ...

    async def trigger_schedule(
        self, tenant_id: str, schedule_id: str, overlap: ScheduleOverlapPolicy | None = None
    ) -> int:
        """Act now, once; the runs started."""
        ...

    async def backfill_schedule(
        self,
        tenant_id: str,
        schedule_id: str,
        periods: list[tuple[datetime, datetime, ScheduleOverlapPolicy | None]],
    ) -> int:
        """Act on every fire time of each period; the runs started."""
        ...

    async def search_attribute_types(self, tenant_id: str) -> dict[str, str]:
        """The type (``Keyword``, ``Int``...) of each search attribute name the tenant
        has used."""
        ...

    async def run_input(self, tenant_id: str, run_id: str) -> list[Any]:
        """The JSON arguments a run was started with; raises WorkflowNotFoundError."""
        ...

    async def events(self, tenant_id: str, run_id: str, after_seq: int = 0) -> list[Event]:
        """A run's events with seq above ``after_seq``, in seq order."""
        ...

    async def signal(self, p: SignalParams) -> bool:
        """Append ``signal_received`` (with the interceptors' ``header``) to an open run
        and queue its workflow task; False when the tenant has no such open run (of
        ``workflow_id``, when given; with ``run_id`` None, the open run of
        ``workflow_id``)."""
        ...

    async def request_cancel(self, tenant_id: str, run_id: str) -> bool:
        """Record a cancellation request once (``workflow_cancel_requested``, a workflow
        task queued); True when requested now or before, False when there is no open run."""
        ...

    async def terminate(self, tenant_id: str, run_id: str, reason: str | None) -> bool:
        """Close an open run ``terminated`` at once (its items canceled, its parent told);
        False when there is none."""
        ...

    async def load_history(self, run_id: str, after_seq: int) -> tuple[RunSnapshot, list[Event]]:
        """The run and its events after ``after_seq``, read together; raises LookupError."""
        ...

    async def load_histories(
        self, wanted: Sequence[tuple[str, int]]
    ) -> list[tuple[RunSnapshot, list[Event]] | Exception]:
        """:meth:`load_history` of many ``(run_id, after_seq)``; a missing run's entry is
        a LookupError."""
        ...

    # -- updates ------------------------------------------------------------------------
    async def request_update(self, p: UpdateRequestParams) -> UpdateRecord | None:
        """Record an update request for an open run (once per update id) and queue a
        workflow task to decide it; the request as it stands, or None when the run is
        not open and has no request of that id."""
        ...

    async def update_record(
        self, tenant_id: str, run_id: str, update_id: str
    ) -> UpdateRecord | None:
        """The update ``update_id`` of the tenant's run, or None."""
        ...

    async def requested_updates(
        self, run_ids: Sequence[str]
    ) -> dict[str, list[tuple[str, str, list[Any], dict[str, Any]]]]:
        """The requests still to decide of each run, oldest first (with their headers)."""
        ...

    # -- queries (client and worker) ------------------------------------------------------
    async def request_query(self, p: QueryRequestParams) -> None:
        """Store a query request for the workers of its task queue, and wake them."""
        ...

    async def claim_queries(self, p: QueryClaimParams) -> list[QueryRequest]:
        """Claim waiting, unexpired requests of a task queue whose workflow type the
        worker has registered, oldest first, never one twice. With none waiting it only
        reads."""
        ...

    async def answer_query(self, query_id: str, answer: QueryAnswer) -> bool:
        """Write a claimed request's answer and wake its caller; False when the request
        is gone or answered already."""
        ...

    async def query_answer(self, tenant_id: str, query_id: str) -> QueryAnswer | None:
        """The answer of the tenant's request; None while it has none or is gone (a read)."""
        ...

    async def forget_query(self, tenant_id: str, query_id: str) -> None:
        """Delete the tenant's request in any state (nothing when it is gone)."""
        ...

    async def prune_queries(self, before: datetime, limit: int = PRUNE_BATCH) -> int:
        """Delete up to ``limit`` requests that expired before ``before``; how many."""
        ...

    # -- queue (worker) -------------------------------------------------------------------
    async def claim(self, p: ClaimParams) -> list[ClaimedItem]:
        """Lease up to the given numbers of ready items to ``owner`` (never one item twice,
        never two workflow tasks of one run): a workflow task's queued run becomes
        ``claimed``; an activity gets its timeouts' lease and ``activity_started``. A
        run's first task comes with its history, and (with ``seen``, where the store
        pipelines) a task of a run the worker holds with its events after that seq."""
        ...

    async def fire_timers(self, p: FireTimersParams) -> int:
        """Fire due timers (``timer_fired``, a workflow task queued; an approval's timer
        times the approval out); how many fired."""
        ...

    async def next_due(self, task_queue: str, tenant_id: str | None = None) -> datetime | None:
        """When the earliest queued item of ``task_queue`` becomes ready (None: nothing)."""
        ...

    async def lull(self, tenant_id: str) -> Lull:
        """Busy while any of the tenant's items is ready or held; else when the next
        queued item or run deadline comes due (a time-skipping environment's next step)."""
        ...

    async def extend_leases(self, owner: str, item_ids: Sequence[int], until: datetime) -> None:
        """Extend the leases ``owner`` still holds on these workflow tasks."""
        ...

    async def release(self, items: Iterable[ClaimedItem]) -> None:
        """Give held items back to the queue at once (``lease_expired``, reason
        ``released``)."""
        ...

    async def unstick(self, owner: str) -> None:
        """Offer the runs whose tasks go first to the worker ``owner`` (sticky execution)
        to every worker again, at once: ``owner`` is shutting down."""
        ...

    async def quarantine_item(self, item: ClaimedItem, reason: str) -> bool:
        """Set an item aside (``dead``, ``dead_lettered`` with ``quarantined``; an
        activity's run sees a final ``activity_failed``); False when it had moved on."""
        ...

    # -- workflow tasks -------------------------------------------------------------------
    async def commit_workflow_task(self, commit: WorkflowTaskCommit) -> range:
        """Commit one workflow task (its events, items, children, state change); the seqs
        it appended. Raises StaleTaskError or UnhandledSignalError, changing nothing."""
        ...

    async def commit_workflow_tasks(
        self, commits: Sequence[WorkflowTaskCommit]
    ) -> list[range | Exception]:
        """Commit many workflow tasks together; each one's seqs or its own refusal."""
        ...

    async def fail_workflow_task(
        self, item: ClaimedItem, failure: Failure, retry_in: float, *, dead: bool = False
    ) -> None:
        """End a failed workflow task (``workflow_task_failed``) and queue its next attempt
        after ``retry_in`` seconds; with ``dead``, dead-letter it instead."""
        ...

    async def abandon_workflow_task(self, item: ClaimedItem) -> None:
        """End a held workflow task that has nothing to do (its run closed)."""
        ...

    # -- activities -----------------------------------------------------------------------
    async def complete_activity(
        self, item: ClaimedItem, result: Any, *, eager: EagerClaim | None = None
    ) -> bool:
        """Record an activity's result once (``activity_completed``, a workflow task
        queued); False when this attempt no longer holds the item."""
        ...

    async def complete_activities(
        self, outcomes: Sequence[tuple[ClaimedItem, Any]], *, eager: EagerClaim | None = None
    ) -> list[bool]:
        """:meth:`complete_activity` of many, in one transaction; with ``eager``, the
        workflow tasks they wake are leased to that worker at once."""
        ...

    async def fail_activity(
        self, item: ClaimedItem, failure: Failure, p: FailActivityParams
    ) -> bool:
        """Queue the next attempt after ``retry_in`` seconds (``retry_scheduled``), or
        record the final failure (``dead`` with ``dead_lettered``, else ``failed``);
        False when this attempt no longer holds the item (or its lease was extended past
        ``expired_before``)."""
        ...

    async def heartbeat(self, item: ClaimedItem, details: list[Any], lease_until: datetime) -> bool:
        """Record heartbeat details and extend the lease; True when the activity should
        stop (cancel requested, run closed, or the lease lost)."""
        ...

    async def activity_canceled(self, item: ClaimedItem) -> bool:
        """End a held activity canceled (``activity_canceled``, a workflow task queued);
        False when this attempt no longer holds it."""
        ...

    async def running_activity(self, tenant_id: str, p: ActivityLookup) -> ClaimedItem | None:
        """The running attempt ``p`` names, of an open run of ``tenant_id`` (what an async
        activity handle completes through the operations above); None when there is none.
        A read: it takes no write lock."""
        ...

    # -- maintenance (reaper) -------------------------------------------------------------
    async def expired_items(self, limit: int = 100) -> list[ClaimedItem]:
        """Leased items whose lease expired, oldest first, tenants taken in turn."""
        ...

    async def requeue_expired_workflow_task(self, item: ClaimedItem) -> bool:
        """Queue an expired workflow task again for another worker (``lease_expired``,
        the run back to ``queued``); False when it is no longer expired under that lease."""
        ...

    async def expired_runs(self, p: ExpiredRunsParams) -> list[str]:
        """Open runs past their execution deadline, oldest deadline first."""
        ...

    async def time_out_run(self, run_id: str) -> bool:
        """Close a run ``timed_out`` (``workflow_timed_out``); False when already closed."""
        ...

    async def prune_finished(self, before: datetime, limit: int = PRUNE_BATCH) -> int:
        """Delete up to ``limit`` queue items that finished (completed, canceled, failed)
        before ``before``; how many. Dead letters stay."""
        ...

    # -- governance -----------------------------------------------------------------------
    async def decide_approval(
        self,
        tenant_id: str,
        workflow_id: str,
        run_id: str,
        name: str,
        outcome: DecisionOutcome,
        *,
        by: str | None,
        reason: str | None,
    ) -> PolicyDecision:
        """Decide a pending approval, once; raises ApprovalNotFoundError or
        ApprovalAlreadyDecidedError."""
        ...

    async def record_policy_decision(self, item: ClaimedItem, decision: PolicyDecision) -> bool:
        """Persist a policy decision and its ``policy_decided`` event; False when the run
        is closed."""
        ...

    async def record_artifact(self, item: ClaimedItem, artifact: Artifact) -> bool:
        """Persist an artifact's metadata and its ``artifact_recorded`` event; False when
        the run is closed."""
        ...

    async def granted_approval(self, tenant_id: str, run_id: str, name: str) -> Approval | None:
        """The latest ``approved`` decision of approval ``name`` in the run, if any."""
        ...

    async def approvals_of(self, tenant_id: str, run_id: str) -> list[Approval]:
        """Every approval of a run, oldest first."""
        ...

    async def pending_approvals(self, tenant_id: str, where: ApprovalFilter) -> list[Approval]:
        """Pending approvals of a tenant's open runs that match ``where``, oldest first."""
        ...

    async def decisions_of(self, tenant_id: str, run_id: str) -> list[PolicyDecision]:
        """Every policy and approval decision of a run, oldest first."""
        ...

    async def artifacts_of(self, tenant_id: str, run_id: str) -> list[Artifact]:
        """Every artifact of a run, oldest first."""
        ...

    # -- figures --------------------------------------------------------------------------
    async def figures(self, tenant_id: str) -> list[Figure]:
        """Queue depth, lag, leases and dead letters; runs per state; pending approvals."""
        ...
