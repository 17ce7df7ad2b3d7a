"""The Temporal executor's Client: the same methods as the internal one.

Its handles are in ``_handle.py`` (``TemporalWorkflowHandle``, re-exported here).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import pydantic_core
import temporalio.client
import temporalio.common
import temporalio.exceptions
import temporalio.service
from temporalio.contrib.pydantic import pydantic_data_converter

from turnout.contracts import errors as te
from turnout.contracts.async_activity import AsyncActivityIDReference
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
from turnout.contracts.interceptors import check_client_interceptors
from turnout.contracts.limits import (
    check_name,
    check_optional_duration,
    check_payload,
    check_task_timeout,
)
from turnout.contracts.listing import Listing, WorkflowExecutionCount
from turnout.contracts.memo import check_memo
from turnout.contracts.records import DEFAULT_TENANT, IdConflictPolicy, IdReusePolicy, Run
from turnout.contracts.retry import RetryPolicy
from turnout.contracts.schedule_times import check_cron_schedule
from turnout.contracts.search_attributes import (
    SearchAttributes,
    TypedSearchAttributes,
    check_search_attributes,
)
from turnout.contracts.states import RunState
from turnout.contracts.updates import WithStartWorkflowOperation, WorkflowUpdateStage
from turnout.contracts.visibility import Query, parse_query, render
from turnout.contracts.workers import WorkerInfo
from turnout.executors.temporal._async_activity import TemporalAsyncActivityHandle
from turnout.executors.temporal._governance import approvals_from_memo
from turnout.executors.temporal._handle import TemporalWorkflowHandle, jsonable
from turnout.executors.temporal._interceptors import client_interceptors
from turnout.executors.temporal._runtime import CORRELATION_MEMO, temporal_retry_policy
from turnout.executors.temporal._schedules import TemporalSchedules
from turnout.executors.temporal._search import refused_search_attributes, typed_to_temporal
from turnout.executors.temporal._updates import TemporalWorkflowUpdateHandle, update_with_start
from turnout.executors.temporal._visibility import (
    count_runs,
    fetch_page,
    list_query,
    list_runs,
    listed_run,
    quoted,
)
from turnout.executors.temporal._workers import pollers
from turnout.observability.tracing import correlation_from_current_span
from turnout.workflows._definitions import WorkflowDefinition
from turnout.workflows._dynamic import lookup

__all__ = ["TemporalClient", "TemporalWorkflowHandle"]

log = logging.getLogger("turnout.temporal")

_REUSE = {
    IdReusePolicy.ALLOW_DUPLICATE: temporalio.common.WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    IdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY: (
        temporalio.common.WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
    ),
    IdReusePolicy.REJECT_DUPLICATE: temporalio.common.WorkflowIDReusePolicy.REJECT_DUPLICATE,
}
_CONFLICT = {
    IdConflictPolicy.FAIL: temporalio.common.WorkflowIDConflictPolicy.FAIL,
    IdConflictPolicy.USE_EXISTING: temporalio.common.WorkflowIDConflictPolicy.USE_EXISTING,
    IdConflictPolicy.TERMINATE_EXISTING: (
        temporalio.common.WorkflowIDConflictPolicy.TERMINATE_EXISTING
    ),
}


class TemporalClient(TemporalSchedules, ClientBase):
    """A turnout Client on a Temporal cluster."""

    executor = "temporal"
    capabilities = ClientCapabilities(idempotency_keys=False, page_tokens=True, run_input=False)
    """No idempotency keys (a retried start finds its run by workflow id); runs listed by
    the visibility store's page tokens; history events omit a run's input."""

    def __init__(
        self,
        raw: temporalio.client.Client,
        *,
        workflows: Sequence[type] = (),
        tenant_id: str = DEFAULT_TENANT,
        interceptors: Sequence[object] = (),
    ) -> None:
        self.interceptors = list(interceptors)
        """What ``Client.connect(interceptors=...)`` was given (workers use the worker
        interceptors among them too)."""
        self.raw = raw
        """The underlying ``temporalio.client.Client``."""
        self._tenant_id = validate_tenant(tenant_id)
        self._definitions: dict[str, WorkflowDefinition] = {}
        self.register_workflows(workflows)

    @classmethod
    async def open(
        cls,
        address: str,
        namespace: str,
        *,
        workflows: Sequence[type] = (),
        tenant_id: str = DEFAULT_TENANT,
        interceptors: Sequence[object] = (),
    ) -> TemporalClient:
        """Connect with the pydantic data converter (models and dataclasses round-trip)."""
        interceptors = check_client_interceptors(interceptors)
        raw = await temporalio.client.Client.connect(
            address,
            namespace=namespace,
            data_converter=pydantic_data_converter,
            interceptors=client_interceptors(interceptors),
        )
        return cls(raw, workflows=workflows, tenant_id=tenant_id, interceptors=interceptors)

    @property
    def tenant_id(self) -> str:
        """The tenant; on Temporal, its namespace is :attr:`namespace`."""
        return self._tenant_id

    @property
    def namespace(self) -> str:
        """The Temporal namespace every call of this client goes to."""
        return self.raw.namespace

    @property
    def is_durable(self) -> bool:
        """True: Temporal persists every run."""
        return True

    def register_workflows(self, workflows: Sequence[type]) -> None:
        """Make workflow classes known (result types by name)."""
        for cls in workflows:
            defn = WorkflowDefinition.must_from_class(cls)
            self._definitions[defn.name] = defn

    def definition(self, workflow_type: str) -> WorkflowDefinition | None:
        """A registered workflow definition by type name (the dynamic one for a type no
        other has)."""
        return lookup(self._definitions, workflow_type)

    async def close(self) -> None:
        """Nothing to release: temporalio clients close with the process."""

    async def __aenter__(self) -> TemporalClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def watch_run(self, workflow_id: str, run_id: str) -> AsyncIterator[RunWatch]:
        """A watch woken by a long poll of the run's history (``wait_new_event``) in a
        background task, so that its reader reads and maps the history again only when it
        grew; when the long poll fails the reader falls back to polling."""
        woken = asyncio.Event()
        raw = self.raw.get_workflow_handle(workflow_id, run_id=run_id)

        async def follow() -> None:
            try:
                async for _ in raw.fetch_history_events(wait_new_event=True, skip_archival=True):
                    woken.set()
            except Exception as exc:  # the reader falls back to polling
                log.warning("following the history of %s failed: %s", workflow_id, exc)
            woken.set()

        follower = asyncio.create_task(follow())
        try:
            yield RunWatch(woken, following=lambda: not follower.done())
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

    def _resolve(self, workflow: str | Callable[..., Any]) -> tuple[str, Any]:
        if isinstance(workflow, str):
            defn = self._definitions.get(workflow)
            return workflow, defn.return_type if defn else None
        defn = WorkflowDefinition.from_run_fn(workflow)
        if defn is None:
            raise TypeError(f"{workflow!r} is not a workflow: pass MyWorkflow.run or a type name")
        self._definitions.setdefault(defn.name, defn)
        return defn.name, defn.return_type

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
    ) -> TemporalWorkflowHandle:
        """Start a workflow run on Temporal."""
        name, result_type = self._resolve(workflow)
        if idempotency_key is not None:
            raise te.ConfigurationError(
                "idempotency_key is a feature of the internal executor; on Temporal the workflow "
                "id is the idempotency key: start with id=<your key> and id_conflict_policy="
                "USE_EXISTING"
            )
        execution_timeout = check_start(
            name,
            id,
            task_queue,
            execution_timeout=execution_timeout,
            correlation_id=correlation_id,
        )
        start_args = call_args(arg, args)
        check_payload(jsonable(start_args), f"the input of workflow {name}")
        signal: dict[str, Any] = {}
        if start_signal is not None:
            check_signal(start_signal, jsonable(list(start_signal_args)))
            signal = {"start_signal": start_signal, "start_signal_args": list(start_signal_args)}
            if IdConflictPolicy(id_conflict_policy) is IdConflictPolicy.FAIL:
                # Signal-with-start uses an open run of the id, as on the internal executor.
                id_conflict_policy = IdConflictPolicy.USE_EXISTING
        elif start_signal_args:
            raise ValueError("start_signal_args needs start_signal, the signal's name")
        # Started under a span: the run joins its trace, as on the internal executor.
        correlation = correlation_id or correlation_from_current_span() or uuid.uuid4().hex
        # The user's memo beside turnout's own key (check_memo refuses turnout's keys).
        raw_memo = {**check_memo(memo), CORRELATION_MEMO: correlation}
        try:
            raw = await self.raw.start_workflow(
                name,
                args=start_args,
                id=id,
                task_queue=task_queue,
                id_reuse_policy=_REUSE[IdReusePolicy(id_reuse_policy)],
                id_conflict_policy=_CONFLICT[IdConflictPolicy(id_conflict_policy)],
                execution_timeout=execution_timeout,
                run_timeout=check_optional_duration(run_timeout, "run_timeout"),
                task_timeout=check_task_timeout(task_timeout),
                retry_policy=temporal_retry_policy(retry_policy),
                memo=raw_memo,
                search_attributes=typed_to_temporal(check_search_attributes(search_attributes)),
                cron_schedule=check_cron_schedule(cron_schedule) if cron_schedule else "",
                result_type=result_type,
                **signal,
            )
        except temporalio.exceptions.WorkflowAlreadyStartedError as exc:
            raise te.WorkflowAlreadyStartedError(id, name) from exc
        except temporalio.service.RPCError as exc:
            raise refused_search_attributes(exc) from None
        except pydantic_core.PydanticSerializationError as exc:
            raise te.DataConversionError(f"the input of workflow {name}", exc) from None
        return TemporalWorkflowHandle(
            self,
            id,
            run_id=None,
            result_run_id=raw.result_run_id,
            first_execution_run_id=raw.first_execution_run_id,
            result_type=result_type,
        )

    async def start_update_with_start_workflow(
        self,
        update: str | Callable[..., Any],
        arg: Any = ARG_UNSET,
        *,
        start_workflow_operation: WithStartWorkflowOperation,
        wait_for_stage: WorkflowUpdateStage,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: Any = None,
    ) -> TemporalWorkflowUpdateHandle:
        """Update-with-start through Temporal's own operation (one request)."""
        op = start_workflow_operation
        name, workflow_result = self._resolve(op.workflow)
        check_start(name, op.id, op.task_queue, execution_timeout=op.execution_timeout)
        if op.id_conflict_policy is IdConflictPolicy.TERMINATE_EXISTING:
            raise ValueError(
                "update-with-start takes id_conflict_policy USE_EXISTING or FAIL, not "
                "TERMINATE_EXISTING"
            )
        raw_op: temporalio.client.WithStartWorkflowOperation[Any, Any] = (
            temporalio.client.WithStartWorkflowOperation(
                name,
                args=op.args,
                id=op.id,
                task_queue=op.task_queue,
                id_conflict_policy=_CONFLICT[op.id_conflict_policy],
                id_reuse_policy=_REUSE[op.id_reuse_policy],
                execution_timeout=op.execution_timeout,
                run_timeout=check_optional_duration(op.run_timeout, "run_timeout"),
                task_timeout=check_task_timeout(op.task_timeout),
                retry_policy=temporal_retry_policy(op.retry_policy),
                memo={CORRELATION_MEMO: correlation_from_current_span() or uuid.uuid4().hex},
                result_type=op.result_type or workflow_result,
            )
        )
        try:
            handle = await update_with_start(
                self.raw,
                update,
                arg,
                raw_op,
                args=args,
                id=id,
                wait_for_stage=wait_for_stage,
                result_type=result_type,
            )
        except BaseException as exc:
            with contextlib.suppress(BaseException):
                await raw_op.workflow_handle()  # the start's own failure, retrieved
            if isinstance(exc, temporalio.exceptions.WorkflowAlreadyStartedError):
                error = te.WorkflowAlreadyStartedError(op.id, name)
                op.set_failure(error)
                raise error from exc
            op.set_failure(exc)
            raise
        started = await raw_op.workflow_handle()
        op.set_workflow_handle(
            TemporalWorkflowHandle(
                self,
                op.id,
                run_id=None,
                result_run_id=started.result_run_id,
                first_execution_run_id=started.first_execution_run_id,
                result_type=op.result_type,
            )
        )
        return handle

    def get_workflow_handle(
        self,
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
        result_type: Any = None,
    ) -> TemporalWorkflowHandle:
        """A handle on an existing workflow id."""
        validate_handle(workflow_id, run_id, first_execution_run_id)
        return TemporalWorkflowHandle(
            self,
            workflow_id,
            run_id=run_id,
            result_run_id=run_id,
            first_execution_run_id=first_execution_run_id,
            result_type=result_type,
        )

    def async_activity_handle(
        self, target: AsyncActivityIDReference | bytes
    ) -> TemporalAsyncActivityHandle:
        """temporalio's handle on the activity ``target`` names, its errors turnout's."""
        return TemporalAsyncActivityHandle(self.raw, target)

    def _list_runs(self, query: Query, listing: Listing) -> AsyncIterator[Run]:
        """The runs a listing matches, through Temporal's visibility API (this client's
        namespace)."""
        return list_runs(self, query, listing)

    async def _count_runs(self, query: Query) -> WorkflowExecutionCount:
        """Temporal's count of the runs ``query`` matches."""
        return await count_runs(self, query)

    async def list_workflows_page(
        self,
        *,
        query: str | None = None,
        state: RunState | None = None,
        workflow_type: str | None = None,
        task_queue: str | None = None,
        limit: int = 100,
        page_token: bytes | None = None,
    ) -> tuple[list[Run], bytes | None]:
        """One page of Temporal's visibility listing (at most ``limit`` executions read)
        and the token of the next page (None: the last one).

        In Temporal's order: open runs first, newest first, then closed ones by close
        time. A ``waiting_approval`` filter keeps the running executions that wait, so a
        page may hold fewer than ``limit`` runs while more follow.
        """
        text = list_query(render(parse_query(query).where), state, workflow_type, task_queue, None)
        if text is None:
            return [], None
        pages = self.raw.list_workflows(
            query=text or None, page_size=limit, next_page_token=page_token
        )
        await fetch_page(pages)
        runs: list[Run] = []
        for execution in pages.current_page or ():
            run = await listed_run(self, execution, state)
            if run is not None:
                runs.append(run)
        return runs, pages.next_page_token

    async def workers(self, task_queue: str | None = None) -> list[WorkerInfo]:
        """The pollers Temporal saw lately on ``task_queue`` (Temporal lists a queue's
        pollers only: name the queue)."""
        if task_queue is None:
            raise te.ConfigurationError(
                "on Temporal, workers are listed per task queue: give task_queue"
            )
        check_name(task_queue, "the task queue")
        return await pollers(self.raw, task_queue)

    async def list_pending_approvals(
        self, *, workflow_type: str | None = None, limit: int = 100
    ) -> list[Approval]:
        """Approvals waiting on a decision in this client's namespace, oldest first.

        Read from the memo that each open run's listing carries (Temporal's visibility
        store is eventually consistent: a request made a moment ago may not show yet).
        """
        query = "ExecutionStatus = 'Running'"
        if workflow_type:
            query += f" AND WorkflowType = {quoted(workflow_type)}"
        found: list[Approval] = []
        async for execution in self.raw.list_workflows(query=query):
            memo = await execution.memo()
            found.extend(
                approvals_from_memo(
                    memo,
                    workflow_id=execution.id,
                    run_id=execution.run_id,
                    workflow_type=execution.workflow_type,
                    tenant_id=self._tenant_id,
                    pending_only=True,
                )
            )
        found.sort(key=lambda a: (a.requested_at, a.workflow_id, a.name))
        return found[:limit]
