"""``ClientBase``: what every executor's client shares (``execute_workflow`` as start then
result, update-with-start as start then update, and the operator members answered for an
executor that keeps none of that information). :mod:`turnout.contracts.executor`
re-exports it."""

from __future__ import annotations

import contextlib
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from turnout.contracts.async_activity import (
    AsyncActivityHandle,
    AsyncActivityIDReference,
    async_activity_target,
)
from turnout.contracts.calls import ARG_UNSET
from turnout.contracts.capabilities import ClientCapabilities, QueueFigures, RunWatch
from turnout.contracts.connector import connect_through_hook
from turnout.contracts.events import Event
from turnout.contracts.history import WorkflowHistory
from turnout.contracts.limits import check_listing_filters
from turnout.contracts.listing import (
    Listing,
    WorkflowExecutionAsyncIterator,
    WorkflowExecutionCount,
)
from turnout.contracts.records import IdConflictPolicy, IdReusePolicy, Run
from turnout.contracts.retry import RetryPolicy
from turnout.contracts.search_attributes import SearchAttributes, TypedSearchAttributes
from turnout.contracts.states import RunState
from turnout.contracts.updates import (
    WithStartWorkflowOperation,
    WorkflowUpdateHandle,
    WorkflowUpdateStage,
    start_update_with_start,
)
from turnout.contracts.visibility import Query, parse_query
from turnout.contracts.workers import WorkerInfo

if TYPE_CHECKING:
    from turnout.contracts.executor import Client, OperatorClient, WorkflowHandle
    from turnout.contracts.status import Snapshot

__all__ = ["ClientBase"]


class ClientBase:
    """What every executor's client shares: ``execute_workflow`` is start, then result;
    and the :class:`OperatorClient` members, answered for an executor that keeps none of
    that information (each executor overrides what it has)."""

    capabilities: ClientCapabilities = ClientCapabilities()
    """What this client can do beyond :class:`Client` (nothing, unless an executor says)."""

    @classmethod
    async def connect(
        cls,
        target_host: str | None = None,
        *,
        namespace: str = "default",
        data_converter: object = None,
        **options: Any,
    ) -> Client:
        """:meth:`Client.connect`: a client of the executor ``target_host`` names."""
        return await connect_through_hook(
            target_host, namespace, {"data_converter": data_converter, **options}
        )

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
        """The runs ``query`` matches (Temporal's list query language; see
        ``turnout.contracts.visibility``), also filtered by ``state``, ``workflow_type``
        and ``task_queue``: newest first unless the query has ``ORDER BY``, at most
        ``limit``. Iterate it, or await it for a list. A query turnout cannot read raises
        InvalidQueryError here, naming the offending token."""
        parsed = parse_query(query)
        check_listing_filters(workflow_type, task_queue, limit, page_size)
        listing = Listing(state, workflow_type, task_queue, limit, before, page_size)
        get_handle: Callable[..., WorkflowHandle] = getattr(self, "get_workflow_handle")  # noqa: B009

        async def history(run: Run) -> WorkflowHistory:
            return await get_handle(run.workflow_id, run_id=run.run_id).fetch_history()

        return WorkflowExecutionAsyncIterator(lambda: self._list_runs(parsed, listing), history)

    async def count_workflows(self, query: str | None = None) -> WorkflowExecutionCount:
        """How many runs ``query`` matches; with ``GROUP BY ExecutionStatus``, how many
        in each status as well."""
        return await self._count_runs(parse_query(query, grouping=True))

    def _list_runs(self, query: Query, listing: Listing) -> AsyncIterator[Run]:
        """The executor's hook: the runs ``query`` and ``listing`` match, in order."""
        raise NotImplementedError(f"{type(self).__name__} cannot list runs")

    async def _count_runs(self, query: Query) -> WorkflowExecutionCount:
        """The executor's hook: how many runs ``query`` matches."""
        raise NotImplementedError(f"{type(self).__name__} cannot count runs")

    def get_workflow_handle_for(
        self,
        workflow: Callable[..., Any],
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
    ) -> WorkflowHandle:
        """A handle on ``workflow_id`` whose result is typed by ``workflow``, the
        ``@workflow.run`` method (``MyWorkflow.run``)."""
        if not callable(workflow):
            raise TypeError(f"{workflow!r} is not a workflow's run method: pass MyWorkflow.run")
        try:
            result_type = typing.get_type_hints(workflow).get("return")
        except Exception:  # forward references that do not resolve: untyped
            result_type = None
        get_handle: Callable[..., WorkflowHandle] = getattr(self, "get_workflow_handle")  # noqa: B009
        return get_handle(
            workflow_id,
            run_id=run_id,
            first_execution_run_id=first_execution_run_id,
            result_type=result_type,
        )

    def get_async_activity_handle(
        self,
        *,
        workflow_id: str | None = None,
        run_id: str | None = None,
        activity_id: str | None = None,
        task_token: bytes | None = None,
    ) -> AsyncActivityHandle:
        """A handle on an activity that called ``activity.raise_complete_async()``: by
        its ``task_token`` alone, or by ``workflow_id``, ``run_id`` (None: the open run)
        and ``activity_id``; the executor's :meth:`async_activity_handle` makes it."""
        target = async_activity_target(
            workflow_id=workflow_id, run_id=run_id, activity_id=activity_id, task_token=task_token
        )
        return self.async_activity_handle(target)

    def async_activity_handle(
        self, target: AsyncActivityIDReference | bytes
    ) -> AsyncActivityHandle:
        """The executor's handle on the activity ``target`` names (each executor's client
        overrides this)."""
        raise NotImplementedError(f"{type(self).__name__} cannot complete activities from outside")

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
    ) -> WorkflowUpdateHandle:
        """Start the operation's workflow (or use its open run), send it the update and
        return once the update reached ``wait_for_stage``."""
        client: Client = self  # type: ignore[assignment]  # every executor's client is one
        return await start_update_with_start(
            client,
            update,
            arg,
            start_workflow_operation=start_workflow_operation,
            wait_for_stage=wait_for_stage,
            args=args,
            id=id,
            result_type=result_type,
        )

    async def execute_update_with_start_workflow(
        self,
        update: str | Callable[..., Any],
        arg: Any = ARG_UNSET,
        *,
        start_workflow_operation: WithStartWorkflowOperation,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: Any = None,
    ) -> Any:
        """:meth:`start_update_with_start_workflow` up to the update's result."""
        handle = await self.start_update_with_start_workflow(
            update,
            arg,
            start_workflow_operation=start_workflow_operation,
            wait_for_stage=WorkflowUpdateStage.COMPLETED,
            args=args,
            id=id,
            result_type=result_type,
        )
        return await handle.result()

    async def events_after(self, workflow_id: str, run_id: str, after: int) -> list[Event]:
        """The events of the run whose seq is above ``after``, from its whole timeline."""
        get_handle: Callable[..., WorkflowHandle] = getattr(self, "get_workflow_handle")  # noqa: B009
        events = await get_handle(workflow_id, run_id=run_id).events()
        return [e for e in events if e.seq > after]

    @contextlib.asynccontextmanager
    async def watch_run(self, workflow_id: str, run_id: str) -> AsyncIterator[RunWatch]:
        """A watch that is never woken: its reader polls."""
        yield RunWatch()

    async def queue_figures(self) -> Sequence[QueueFigures] | None:
        """None: this executor keeps no queue figures."""
        return None

    async def status(self, *, failures: int = 10) -> Snapshot | None:
        """None: this executor keeps no queue status."""
        return None

    async def workers(self, task_queue: str | None = None) -> list[WorkerInfo]:
        """The live workers (of ``task_queue``, when given); each executor overrides this."""
        return []

    def for_tenant(self, tenant_id: str) -> OperatorClient | None:
        """None: each tenant connects on its own."""
        return None

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
        """Start a workflow run (see ``start_workflow``) and wait for its result."""
        # Each executor's client defines start_workflow with this same signature.
        start: Callable[..., Awaitable[WorkflowHandle]] = getattr(self, "start_workflow")  # noqa: B009
        handle = await start(
            workflow,
            arg,
            id=id,
            task_queue=task_queue,
            args=args,
            id_reuse_policy=id_reuse_policy,
            id_conflict_policy=id_conflict_policy,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            execution_timeout=execution_timeout,
            run_timeout=run_timeout,
            task_timeout=task_timeout,
            retry_policy=retry_policy,
            start_signal=start_signal,
            start_signal_args=start_signal_args,
            memo=memo,
            search_attributes=search_attributes,
            cron_schedule=cron_schedule,
        )
        return await handle.result()
