"""The protocols both executors implement: Client, WorkflowHandle and WorkerBackend.

User code talks to these shapes only; ``turnout.connect()`` picks the
implementation from settings. The method names and arguments mirror
``temporalio.client.Client`` and ``WorkflowHandle`` for the supported subset.

Beyond that shape, a client declares what else it can do (:class:`ClientCapabilities`)
and implements the members of :class:`OperatorClient` that the HTTP API, the console
and ``turnout status`` read: the events after a seq, watching a run, queue figures,
workers. :class:`ClientBase` answers each one for an executor that does not keep that
information, so the callers never ask which executor they talk to.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from turnout.contracts.async_activity import AsyncActivityHandle
from turnout.contracts.calls import ARG_UNSET, call_args, check_signal, check_start
from turnout.contracts.capabilities import ClientCapabilities, QueueFigures, RunWatch
from turnout.contracts.client_base import ClientBase
from turnout.contracts.connector import connect_through_hook
from turnout.contracts.events import Event
from turnout.contracts.governance import (
    Approval,
)
from turnout.contracts.history import WorkflowHistory
from turnout.contracts.listing import WorkflowExecutionAsyncIterator, WorkflowExecutionCount
from turnout.contracts.records import Artifact, IdConflictPolicy, IdReusePolicy, PolicyDecision, Run
from turnout.contracts.retry import RetryPolicy
from turnout.contracts.schedules import (
    Schedule,
    ScheduleBackfill,
    ScheduleHandle,
    ScheduleListDescription,
)
from turnout.contracts.search_attributes import SearchAttributes, TypedSearchAttributes
from turnout.contracts.states import RunState
from turnout.contracts.updates import WorkflowUpdateHandle, WorkflowUpdateStage
from turnout.contracts.workers import WorkerInfo

if TYPE_CHECKING:
    from turnout.contracts.status import Snapshot

__all__ = [
    "ARG_UNSET",
    "Client",
    "ClientBase",
    "ClientCapabilities",
    "OperatorClient",
    "QueueFigures",
    "RunWatch",
    "WorkerBackend",
    "WorkflowHandle",
    "call_args",
    "check_signal",
    "check_start",
]


@runtime_checkable
class WorkflowHandle(Protocol):
    """A handle on one workflow id (and, optionally, one of its runs)."""

    @property
    def id(self) -> str:
        """The workflow id."""
        ...

    @property
    def run_id(self) -> str | None:
        """The run every call but ``result()`` addresses, or None for the latest run
        (None on a handle ``start_workflow`` returned, as on Temporal)."""
        ...

    @property
    def result_run_id(self) -> str | None:
        """The run whose result ``result()`` starts from (temporalio's name)."""
        ...

    @property
    def first_execution_run_id(self) -> str | None:
        """The first run of the chain that cancel, terminate and updates must reach
        (temporalio's name; None: any)."""
        ...

    async def result(self, *, follow_runs: bool = True, timeout: timedelta | None = None) -> Any:
        """Wait for the workflow to close; return its result or raise WorkflowFailureError."""
        ...

    async def signal(
        self, signal: str | Callable[..., Any], arg: Any = ARG_UNSET, *, args: Sequence[Any] = ()
    ) -> None:
        """Deliver a signal to the open run."""
        ...

    async def query(
        self,
        query: str | Callable[..., Any],
        arg: Any = ARG_UNSET,
        *,
        args: Sequence[Any] = (),
        result_type: Any = None,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """Ask the workflow's query handler; never changes the workflow. A worker polling
        the run's task queue answers; none within ``rpc_timeout`` (30 s unset) raises
        TimeoutError."""
        ...

    async def cancel(self) -> None:
        """Request cancellation: the workflow sees CancelledError and may clean up."""
        ...

    async def terminate(self, reason: str | None = None) -> None:
        """End the run at once, without running workflow code."""
        ...

    async def describe(self) -> Run:
        """The run's contract record: state, timestamps, result or failure."""
        ...

    async def start_update(
        self,
        update: str | Callable[..., Any],
        arg: Any = ARG_UNSET,
        *,
        wait_for_stage: WorkflowUpdateStage,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: Any = None,
    ) -> WorkflowUpdateHandle:
        """Send an update; return once it reached ``wait_for_stage`` (a rejection raises
        WorkflowUpdateFailedError)."""
        ...

    async def execute_update(
        self,
        update: str | Callable[..., Any],
        arg: Any = ARG_UNSET,
        *,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: Any = None,
    ) -> Any:
        """Send an update and wait for its result."""
        ...

    def get_update_handle(
        self, id: str, *, workflow_run_id: str | None = None, result_type: Any = None
    ) -> WorkflowUpdateHandle:
        """A handle on an update sent before."""
        ...

    async def events(self) -> list[Event]:
        """The run's timeline, ordered by seq."""
        ...

    async def fetch_history(self) -> WorkflowHistory:
        """The run's history, to export (``to_json()``) and replay (``Replayer``)."""
        ...

    async def approve(self, name: str, *, by: str, reason: str | None = None) -> PolicyDecision:
        """Approve the run's pending approval ``name``; a decision is final.

        Raises ApprovalNotFoundError when no such approval is pending and
        ApprovalAlreadyDecidedError when it was decided before.
        """
        ...

    async def reject(self, name: str, *, by: str, reason: str | None = None) -> PolicyDecision:
        """Reject the run's pending approval ``name`` (same errors as :meth:`approve`)."""
        ...

    async def approvals(self) -> list[Approval]:
        """Every approval the run asked for, pending or decided, oldest first."""
        ...

    async def policy_decisions(self) -> list[PolicyDecision]:
        """Every recorded policy decision and approval decision of the run, oldest first."""
        ...

    async def artifacts(self) -> list[Artifact]:
        """Metadata of every artifact the run's activities recorded, oldest first."""
        ...


@runtime_checkable
class Client(Protocol):
    """Starts workflows and hands out handles; the same methods on every executor.

    ``await Client.connect(target)`` connects as ``temporalio.client.Client.connect``
    does: to a Temporal frontend at ``host:port``, or to the internal executor on a
    database URL (``sqlite:///app.db``, ``postgresql://...``); with no target, to the
    executor the ``TURNOUT_*`` settings name.
    """

    @classmethod
    async def connect(
        cls,
        target_host: str | None = None,
        *,
        namespace: str = "default",
        data_converter: object = None,
        **options: Any,
    ) -> Client:
        """Connect to ``target_host`` (a Temporal address or a database URL) or, without
        one, to the configured executor. ``namespace`` is Temporal's namespace, and the
        tenant on the internal executor. temporalio's other options are refused by name
        unless they keep their default."""
        return await connect_through_hook(
            target_host, namespace, {"data_converter": data_converter, **options}
        )

    @property
    def executor(self) -> str:
        """``internal`` or ``temporal``."""
        ...

    async def start_workflow(
        self,
        workflow: str | Callable[..., Any],
        arg: Any = ARG_UNSET,
        *,
        id: str,
        task_queue: str,
        args: Sequence[Any] = (),
        id_reuse_policy: IdReusePolicy = IdReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy: IdConflictPolicy = IdConflictPolicy.FAIL,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        start_signal: str | None = None,
        start_signal_args: Sequence[Any] = (),
        memo: Mapping[str, Any] | None = None,
        search_attributes: TypedSearchAttributes | SearchAttributes | None = None,
        cron_schedule: str = "",
    ) -> WorkflowHandle:
        """Start a workflow run and return a handle without waiting for it.

        With ``start_signal`` (signal-with-start), the signal is delivered with the start:
        to the new run before its code starts, or to the open run of the id, which the
        start then returns (an open run is used, never a conflict). ``memo`` is kept
        with the run (``describe()``, ``workflow.memo()``), not searchable;
        ``search_attributes`` are what ``list_workflows(query)`` searches.
        ``cron_schedule`` makes a cron workflow: its first run waits for the next cron
        time, and each run that completes or fails is followed by the next."""
        ...

    async def execute_workflow(
        self,
        workflow: str | Callable[..., Any],
        arg: Any = ARG_UNSET,
        *,
        id: str,
        task_queue: str,
        args: Sequence[Any] = (),
        id_reuse_policy: IdReusePolicy = IdReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy: IdConflictPolicy = IdConflictPolicy.FAIL,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        start_signal: str | None = None,
        start_signal_args: Sequence[Any] = (),
        memo: Mapping[str, Any] | None = None,
        search_attributes: TypedSearchAttributes | SearchAttributes | None = None,
        cron_schedule: str = "",
    ) -> Any:
        """Start a workflow run and wait for its result."""
        ...

    def get_workflow_handle(
        self,
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
    ) -> WorkflowHandle:
        """A handle on an existing workflow id (no I/O until it is used)."""
        ...

    def get_workflow_handle_for(
        self,
        workflow: Callable[..., Any],
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
    ) -> WorkflowHandle:
        """A handle on ``workflow_id`` whose result is typed by ``MyWorkflow.run``."""
        ...

    def get_async_activity_handle(
        self,
        *,
        workflow_id: str | None = None,
        run_id: str | None = None,
        activity_id: str | None = None,
        task_token: bytes | None = None,
    ) -> AsyncActivityHandle:
        """A handle completing, failing or heartbeating an activity that called
        ``activity.raise_complete_async()``: by its ``task_token`` alone, or by its
        ``workflow_id``, ``run_id`` (None: the latest run) and ``activity_id``."""
        ...

    def list_workflows(
        self,
        query: str | None = None,
        *,
        state: RunState | None = None,
        workflow_type: str | None = None,
        task_queue: str | None = None,
        limit: int | None = None,
        before: tuple[datetime, str] | None = None,
        page_size: int = 1000,
    ) -> WorkflowExecutionAsyncIterator:
        """The runs ``query`` (Temporal's list query language) and the filters match,
        newest first unless the query orders them: iterate it, or await it for a list.
        With ``before=(requested_at, run_id)`` only the runs after that one (a keyset
        page)."""
        ...

    async def count_workflows(self, query: str | None = None) -> WorkflowExecutionCount:
        """How many runs ``query`` matches (per ExecutionStatus with ``GROUP BY``)."""
        ...

    async def create_schedule(
        self,
        id: str,
        schedule: Schedule,
        *,
        trigger_immediately: bool = False,
        backfill: Sequence[ScheduleBackfill] = (),
        memo: Mapping[str, Any] | None = None,
    ) -> ScheduleHandle:
        """Keep a schedule whose fires start runs (ScheduleAlreadyRunningError when the id
        is taken); ``trigger_immediately`` acts once at once."""
        ...

    def get_schedule_handle(self, id: str) -> ScheduleHandle:
        """A handle on the schedule ``id`` (no I/O until it is used)."""
        ...

    async def list_schedules(
        self, query: str | None = None
    ) -> AsyncIterator[ScheduleListDescription]:
        """The schedules (by id on the internal executor; Temporal's visibility order)."""
        ...

    async def list_pending_approvals(
        self, *, workflow_type: str | None = None, limit: int = 100
    ) -> list[Approval]:
        """Approvals waiting on a decision, over this client's tenant, oldest first."""
        ...

    @property
    def tenant_id(self) -> str:
        """The tenant every read and write of this client is scoped to."""
        ...

    @property
    def is_durable(self) -> bool:
        """True when runs survive a restart of every process (not an in-memory store)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class OperatorClient(Client, Protocol):
    """What the HTTP API, the console and ``turnout status`` read from a client beyond
    :class:`Client`. Every executor's client has these members; one that does not keep
    some information says so (None, or a watch that is never woken)."""

    @property
    def capabilities(self) -> ClientCapabilities:
        """What this client can do beyond :class:`Client`."""
        ...

    async def events_after(self, workflow_id: str, run_id: str, after: int) -> list[Event]:
        """The events of run ``run_id`` of ``workflow_id`` whose seq is above ``after``."""
        ...

    def watch_run(
        self, workflow_id: str, run_id: str
    ) -> contextlib.AbstractAsyncContextManager[RunWatch]:
        """A watch woken when the run may have new events (``async with``)."""
        ...

    async def queue_figures(self) -> Sequence[QueueFigures] | None:
        """Depth, lag, leases and dead letters per task queue of this client's tenant,
        sorted by queue name; None when the executor's server keeps them instead."""
        ...

    async def status(self, *, failures: int = 10) -> Snapshot | None:
        """The task queues, the workers holding their leases, throughput and the latest
        ``failures`` failures (``turnout status``); None when the executor's server keeps
        them instead."""
        ...

    async def workers(self, task_queue: str | None = None) -> list[WorkerInfo]:
        """The live workers of this client's tenant (of ``task_queue`` when given): on the
        internal executor from its workers table, on Temporal the task queue's pollers
        (which needs ``task_queue``)."""
        ...

    def for_tenant(self, tenant_id: str) -> OperatorClient | None:
        """A client of ``tenant_id`` on this client's connections (closing it leaves them
        open), or None when each tenant needs its own connection."""
        ...


@runtime_checkable
class WorkerBackend(Protocol):
    """What an executor provides behind ``turnout.Worker``."""

    async def start(self) -> None:
        """Begin polling for work."""
        ...

    async def shutdown(self) -> None:
        """Stop claiming, let running work finish within the grace period, release the rest."""
        ...

    async def run(self) -> None:
        """Start and block until shut down (or cancelled)."""
        ...
