"""The internal executor's Client: starts, listings, capabilities, tenants.

Its handles are in ``handle.py`` and a run's ``WorkflowInfo`` in ``query.py``; this
module re-exports ``InternalWorkflowHandle`` and ``workflow_info``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from turnout.contracts.async_activity import AsyncActivityIDReference
from turnout.contracts.errors import ConfigurationError, DataConversionError
from turnout.contracts.events import Event
from turnout.contracts.executor import (
    ARG_UNSET,
    ClientBase,
    ClientCapabilities,
    RunWatch,
    call_args,
    check_signal,
    check_start,
)
from turnout.contracts.governance import (
    Approval,
    validate_handle,
    validate_tenant,
)
from turnout.contracts.interceptors import (
    StartWorkflowInput,
    chain_client,
    check_client_interceptors,
)
from turnout.contracts.limits import check_name, check_optional_duration, check_task_timeout
from turnout.contracts.listing import Listing, WorkflowExecutionCount
from turnout.contracts.memo import check_memo
from turnout.contracts.records import IdConflictPolicy, IdReusePolicy, Run
from turnout.contracts.retry import RetryPolicy
from turnout.contracts.schedule_times import check_cron_schedule
from turnout.contracts.search_attributes import (
    SearchAttributes,
    TypedSearchAttributes,
    check_search_attributes,
)
from turnout.contracts.status import Snapshot
from turnout.contracts.visibility import Query
from turnout.contracts.workers import WorkerInfo
from turnout.executors.internal import codec
from turnout.executors.internal.async_activity import InternalAsyncActivityHandle
from turnout.executors.internal.batch import GroupCommit
from turnout.executors.internal.handle import InternalWorkflowHandle
from turnout.executors.internal.handlers import bind_check
from turnout.executors.internal.outbound import InternalOutbound
from turnout.executors.internal.query import workflow_info
from turnout.executors.internal.schedules import InternalSchedules
from turnout.executors.internal.status import read_status
from turnout.executors.internal.store import (
    ApprovalFilter,
    RunFilter,
    StartParams,
    StartResult,
    Store,
)
from turnout.executors.internal.store.core import UNREACHABLE
from turnout.executors.internal.store.figures import QueueFigures, per_queue
from turnout.executors.internal.store.notify import run_channel
from turnout.executors.internal.store.sql import utcnow
from turnout.observability.tracing import correlation_from_current_span
from turnout.workflows._definitions import WorkflowDefinition
from turnout.workflows._dynamic import lookup

__all__ = ["InternalClient", "InternalWorkflowHandle", "workflow_info"]


class InternalClient(InternalSchedules, ClientBase):
    """Starts workflows on the internal store and hands out handles."""

    executor = "internal"
    capabilities = ClientCapabilities(idempotency_keys=True, page_tokens=False, run_input=True)

    def __init__(
        self,
        store: Store,
        *,
        tenant_id: str = "default",
        workflows: Iterable[type] = (),
        max_payload_bytes: int = codec.DEFAULT_MAX_PAYLOAD_BYTES,
        interceptors: Sequence[object] = (),
    ) -> None:
        self.interceptors = check_client_interceptors(interceptors)
        """What ``Client.connect(interceptors=...)`` was given (workers use the worker
        interceptors among them too)."""
        self.outbound = chain_client(
            [i for i in self.interceptors if hasattr(i, "intercept_client")],
            InternalOutbound(self),
        )
        """The outermost link of the client's interceptor chain."""
        self.store = store
        self.tenant_id = validate_tenant(tenant_id)
        self.max_payload_bytes = max_payload_bytes
        """The largest JSON payload accepted (start input, signal arguments, results)."""
        self._definitions: dict[str, WorkflowDefinition] = {}
        self.register_workflows(workflows)
        # Plain starts made at the same time share one transaction.
        # A refused start's error is raised to its caller alone (GroupCommit.submit).
        self._starts: GroupCommit[StartParams, StartResult] = GroupCommit(
            store.start_workflows, name="turnout-starts", shared=UNREACHABLE
        )
        # So are reads of runs by id (waiting for results).
        self._run_reads: GroupCommit[tuple[str, str], Run] = GroupCommit(
            lambda wanted: store.find_runs(self.tenant_id, wanted), name="turnout-run-reads"
        )

    async def read_run(self, workflow_id: str, run_id: str) -> Run:
        """The run ``run_id`` of ``workflow_id``, read with the others read at the same time.

        Raises WorkflowNotFoundError when there is none.
        """
        return await self._run_reads.submit((workflow_id, run_id))

    def register_workflows(self, workflows: Iterable[type]) -> None:
        """Make workflow classes known (for queries by name)."""
        for cls in workflows:
            defn = WorkflowDefinition.must_from_class(cls)
            self._definitions[defn.name] = defn

    def definition(self, workflow_type: str) -> WorkflowDefinition | None:
        """A registered workflow definition by type name (the dynamic one for a type no
        other has)."""
        return lookup(self._definitions, workflow_type)

    @property
    def is_durable(self) -> bool:
        """False for an in-memory SQLite database, which loses every run with the process."""
        url = self.store.url
        return not (":memory:" in url or url.rstrip("/") in {"sqlite:", "sqlite:/"})

    async def close(self) -> None:
        """Release the store's connections."""
        await self.store.close()

    async def __aenter__(self) -> InternalClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _resolve_workflow(
        self, workflow: str | Callable[..., Any]
    ) -> tuple[str, WorkflowDefinition | None]:
        if isinstance(workflow, str):
            return workflow, self._definitions.get(workflow)
        defn = WorkflowDefinition.from_run_fn(workflow)
        if defn is None and isinstance(workflow, type):
            defn = WorkflowDefinition.from_class(workflow)
        if defn is None:
            raise TypeError(
                f"{workflow!r} is not a workflow: pass MyWorkflow.run (its @workflow.run method) "
                f"or the workflow type name"
            )
        self._definitions.setdefault(defn.name, defn)
        return defn.name, defn

    def _checked_input(self, name: str, defn: WorkflowDefinition | None, args: list[Any]) -> Any:
        """The JSON input of a start, refused (nothing stored) when it cannot be right."""
        if defn is not None:
            try:
                bind_check(defn.run_fn, args)  # the signature is read once per function
            except TypeError as exc:
                raise TypeError(f"workflow {name} cannot take these arguments: {exc}") from None
        try:
            encoded = codec.encode_args(args)
        except ValueError as exc:  # pydantic's serialization errors are ValueErrors
            raise DataConversionError(f"the input of workflow {name}", exc) from None
        if defn is not None:
            try:
                codec.decode_args(encoded, defn.arg_types)
            except ValueError as exc:
                raise TypeError(
                    f"the arguments of workflow {name} do not match its type hints: {exc}"
                ) from None
        codec.check_size(encoded, f"the input of workflow {name}", self.max_payload_bytes)
        return encoded

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
    ) -> InternalWorkflowHandle:
        """Start a run (see ``turnout.contracts.Client.start_workflow``)."""
        name, defn = self._resolve_workflow(workflow)
        # An interceptor hands back what the chain's end made (or one like it).
        return await self.outbound.start_workflow(  # type: ignore[return-value]
            StartWorkflowInput(
                workflow=name,
                args=call_args(arg, args),
                id=id,
                task_queue=task_queue,
                execution_timeout=execution_timeout,
                run_timeout=run_timeout,
                task_timeout=task_timeout,
                id_reuse_policy=id_reuse_policy,
                id_conflict_policy=id_conflict_policy,
                retry_policy=retry_policy,
                cron_schedule=cron_schedule,
                memo=memo,
                search_attributes=search_attributes,
                headers={},
                start_signal=start_signal,
                start_signal_args=start_signal_args,
                ret_type=defn.return_type if defn is not None else Any,
                idempotency_key=idempotency_key,
                correlation_id=correlation_id,
            )
        )

    async def start_from_input(self, input: StartWorkflowInput) -> InternalWorkflowHandle:
        """The start at the end of the interceptor chain."""
        retry_policy, id, task_queue = input.retry_policy, input.id, input.task_queue
        execution_timeout, correlation_id = input.execution_timeout, input.correlation_id
        idempotency_key, id_conflict_policy = input.idempotency_key, input.id_conflict_policy
        if retry_policy is not None:
            raise ConfigurationError(
                "a workflow-level retry_policy is not supported by the internal executor; "
                "give the activities retry policies (or handle the failure in the caller)"
            )
        name, defn = self._resolve_workflow(input.workflow)
        execution_timeout = check_start(
            name,
            id,
            task_queue,
            execution_timeout=execution_timeout,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
        )
        signal = self._start_signal(input.start_signal, input.start_signal_args)
        if signal is not None and id_conflict_policy is IdConflictPolicy.FAIL:
            # Signal-with-start delivers to an open run of the id instead of conflicting.
            id_conflict_policy = IdConflictPolicy.USE_EXISTING
        params = StartParams(
            workflow_id=id,
            workflow_type=name,
            task_queue=task_queue,
            input=self._checked_input(name, defn, list(input.args)),
            tenant_id=self.tenant_id,
            # Started under a span: the run's trace joins the caller's.
            correlation_id=correlation_id or correlation_from_current_span(),
            idempotency_key=idempotency_key,
            id_reuse_policy=IdReusePolicy(input.id_reuse_policy),
            id_conflict_policy=IdConflictPolicy(id_conflict_policy),
            execution_timeout=execution_timeout.total_seconds() if execution_timeout else None,
            run_timeout=_seconds(check_optional_duration(input.run_timeout, "run_timeout")),
            task_timeout=_seconds(check_task_timeout(input.task_timeout)),
            signal=signal,
            memo=check_memo(input.memo),
            search_attributes=check_search_attributes(input.search_attributes),
            cron_schedule=check_cron_schedule(input.cron_schedule) if input.cron_schedule else None,
            header=codec.check_header(input.headers, self.max_payload_bytes),
        )
        if (
            idempotency_key is None
            and signal is None
            # A start whose search attributes are refused must not fail the starts
            # committed with it: it goes alone.
            and not params.search_attributes
            and params.id_conflict_policy is not IdConflictPolicy.TERMINATE_EXISTING
        ):
            started = await self._starts.submit(params)
        else:
            started = await self.store.start_workflow(params)
        # As on Temporal, the handle addresses the workflow id (its signals reach the run
        # a continue-as-new starts) and its result starts from the run started here.
        handle = InternalWorkflowHandle(
            self,
            id,
            result_run_id=started.run_id,
            first_execution_run_id=started.run_id,
            result_type=input.ret_type,
        )
        handle.created = started.created
        return handle

    def _start_signal(self, name: str | None, args: Sequence[Any]) -> tuple[str, list[Any]] | None:
        """The signal of a signal-with-start, checked and encoded (None: a plain start)."""
        if name is None:
            if args:
                raise ValueError("start_signal_args needs start_signal, the signal's name")
            return None
        try:
            encoded = codec.encode_args(list(args))
        except ValueError as exc:
            raise DataConversionError(f"the arguments of signal {name}", exc) from None
        check_signal(name, encoded)
        codec.check_size(encoded, f"the arguments of signal {name}", self.max_payload_bytes)
        return name, encoded

    def get_workflow_handle(
        self,
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
        result_type: Any = None,
    ) -> InternalWorkflowHandle:
        """A handle on an existing workflow id (the latest run unless ``run_id`` is given;
        cancel, terminate and updates only within the chain that began with
        ``first_execution_run_id``, when given)."""
        validate_handle(workflow_id, run_id, first_execution_run_id)
        return InternalWorkflowHandle(
            self,
            workflow_id,
            run_id=run_id,
            result_run_id=run_id,
            first_execution_run_id=first_execution_run_id,
            result_type=result_type,
        )

    def async_activity_handle(
        self, target: AsyncActivityIDReference | bytes
    ) -> InternalAsyncActivityHandle:
        """The internal executor's handle on the activity ``target`` names (a malformed
        task token is refused here, with a ValueError)."""
        return InternalAsyncActivityHandle(self, target)

    async def _list_runs(self, query: Query, listing: Listing) -> AsyncIterator[Run]:
        """The runs of this client's tenant a listing matches, read a page at a time:
        newest first (by ``requested_at``, then run id) through a keyset bound, or in
        the query's order page after page."""
        before, left, offset = listing.before, listing.limit, 0
        while left is None or left > 0:
            size = listing.page_size if left is None else min(left, listing.page_size)
            page = await self.store.list_runs(
                self.tenant_id,
                RunFilter(
                    state=listing.state,
                    workflow_type=listing.workflow_type,
                    task_queue=listing.task_queue,
                    limit=size,
                    before=before,
                    query=query,
                    offset=offset,
                ),
            )
            for run in page:
                yield run
            if len(page) < size:
                return
            left = None if left is None else left - len(page)
            if query.order_by:
                offset += len(page)  # the query's order has no keyset
            else:
                before = (page[-1].requested_at, page[-1].run_id)

    async def _count_runs(self, query: Query) -> WorkflowExecutionCount:
        """How many of this tenant's runs ``query`` matches (per status when grouped)."""
        return await self.store.count_runs(self.tenant_id, query)

    async def list_pending_approvals(
        self, *, workflow_type: str | None = None, limit: int = 100
    ) -> list[Approval]:
        """Approvals of this tenant's open runs waiting on a decision, oldest first."""
        _check_filters(workflow_type, None)
        return await self.store.pending_approvals(
            self.tenant_id, ApprovalFilter(workflow_type=workflow_type, limit=limit)
        )

    # -- what operators read (OperatorClient) ---------------------------------------------

    async def events_after(self, workflow_id: str, run_id: str, after: int) -> list[Event]:
        """The run's events whose seq is above ``after`` (one read of those rows only)."""
        return await self.store.events(self.tenant_id, run_id, after)

    @contextlib.asynccontextmanager
    async def watch_run(self, workflow_id: str, run_id: str) -> AsyncIterator[RunWatch]:
        """A watch woken by the store's notifier on the run's channel (when the run closes);
        its reader polls for the other events."""
        await self.store.start_listening()
        with self.store.notifier.subscribe(run_channel(run_id)) as woken:
            yield RunWatch(woken)

    async def queue_figures(self) -> list[QueueFigures]:
        """Depth, lag, leases and dead letters per task queue, read from the tables."""
        return per_queue(await self.store.figures(self.tenant_id))

    async def workers(self, task_queue: str | None = None) -> list[WorkerInfo]:
        """The tenant's live workers (seen within ``LIVE_WITHIN``), by queue and identity."""
        if task_queue is not None:
            check_name(task_queue, "the task queue")
        now = utcnow()
        found = await self.store.list_workers(self.tenant_id, task_queue)
        return [w for w in found if w.alive(now)]

    async def status(self, *, failures: int = 10) -> Snapshot:
        """The queues, the workers holding their leases and the latest failures."""
        return await read_status(self.store, self.tenant_id, failures=failures)

    def for_tenant(self, tenant_id: str) -> InternalClient:
        """A client of ``tenant_id`` on this client's store, with its workflows and payload
        limit; closing it leaves the store open (this client closes it)."""
        other = _StoreSharingClient(
            self.store,
            tenant_id=tenant_id,
            max_payload_bytes=self.max_payload_bytes,
            interceptors=self.interceptors,
        )
        other._definitions.update(self._definitions)
        return other


class _StoreSharingClient(InternalClient):
    """A tenant's client on the store of another client (which closes it)."""

    async def close(self) -> None:
        return None


def _seconds(duration: timedelta | None) -> float | None:
    return duration.total_seconds() if duration else None


def _check_filters(workflow_type: str | None, task_queue: str | None) -> None:
    """Refuse a listing filter no stored name can match (NUL would fail the query)."""
    if workflow_type:
        check_name(workflow_type, "the workflow type filter", example="Checkout")
    if task_queue:
        check_name(task_queue, "the task queue filter")
