"""The internal executor's Client and WorkflowHandle."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from turnout.contracts.errors import (
    ConfigurationError,
    WorkflowFailureError,
    WorkflowNotFoundError,
    WorkflowQueryFailedError,
    exception_from_failure,
)
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
    check_decision,
    validate_tenant,
    validate_workflow_id,
)
from turnout.contracts.limits import check_name, check_text
from turnout.contracts.records import (
    Artifact,
    DecisionOutcome,
    IdConflictPolicy,
    IdReusePolicy,
    PolicyDecision,
    Run,
)
from turnout.contracts.retry import RetryPolicy
from turnout.contracts.states import RunState
from turnout.contracts.status import Snapshot
from turnout.executors.internal import codec
from turnout.executors.internal.batch import GroupCommit
from turnout.executors.internal.engine import WorkflowInstance, WorkflowTaskError
from turnout.executors.internal.status import read_status
from turnout.executors.internal.store import StartParams, StartResult, Store
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.core import UNREACHABLE
from turnout.executors.internal.store.figures import QueueFigures, per_queue
from turnout.executors.internal.store.notify import run_channel
from turnout.observability.tracing import correlation_from_current_span
from turnout.workflows._definitions import HandlerDefinition, WorkflowDefinition, signal_name
from turnout.workflows._runtime import ParentInfo, WorkflowInfo

__all__ = ["InternalClient", "InternalWorkflowHandle", "workflow_info"]


def workflow_info(row: Any) -> WorkflowInfo:
    """The WorkflowInfo of a run row."""
    return WorkflowInfo(
        workflow_id=row.workflow_id,
        run_id=row.run_id,
        workflow_type=row.workflow_type,
        task_queue=row.task_queue,
        attempt=row.attempt,
        start_time=row.requested_at,
        correlation_id=row.correlation_id,
        tenant_id=row.tenant_id,
        continued_run_id=row.continued_from_run_id,
        parent=ParentInfo(row.parent_workflow_id, row.parent_run_id) if row.parent_run_id else None,
        execution_timeout=(
            timedelta(seconds=row.options["execution_timeout"])
            if row.options and row.options.get("execution_timeout")
            else None
        ),
    )


class InternalClient(ClientBase):
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
    ) -> None:
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
        """A registered workflow definition by type name."""
        return self._definitions.get(workflow_type)

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
                inspect.signature(defn.run_fn).bind(None, *args)
            except TypeError as exc:
                raise TypeError(f"workflow {name} cannot take these arguments: {exc}") from None
        try:
            encoded = codec.encode_args(args)
        except ValueError as exc:  # pydantic's serialization errors are ValueErrors
            raise TypeError(
                f"the input of workflow {name} cannot be stored as JSON: {exc}; pass "
                "JSON-compatible values, pydantic models or dataclasses"
            ) from None
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
        retry_policy: RetryPolicy | None = None,
    ) -> InternalWorkflowHandle:
        """Start a run (see ``turnout.contracts.Client.start_workflow``)."""
        if retry_policy is not None:
            raise ConfigurationError(
                "a workflow-level retry_policy is not supported by the internal executor; "
                "give the activities retry policies (or handle the failure in the caller)"
            )
        name, defn = self._resolve_workflow(workflow)
        execution_timeout = check_start(
            name,
            id,
            task_queue,
            execution_timeout=execution_timeout,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
        )
        result_type = defn.return_type if defn is not None else Any
        params = StartParams(
            workflow_id=id,
            workflow_type=name,
            task_queue=task_queue,
            input=self._checked_input(name, defn, call_args(arg, args)),
            tenant_id=self.tenant_id,
            # Started under a span: the run's trace joins the caller's.
            correlation_id=correlation_id or correlation_from_current_span(),
            idempotency_key=idempotency_key,
            id_reuse_policy=IdReusePolicy(id_reuse_policy),
            id_conflict_policy=IdConflictPolicy(id_conflict_policy),
            execution_timeout=execution_timeout.total_seconds() if execution_timeout else None,
        )
        if idempotency_key is None and params.id_conflict_policy is not (
            IdConflictPolicy.TERMINATE_EXISTING
        ):
            started = await self._starts.submit(params)
        else:
            started = await self.store.start_workflow(params)
        handle = InternalWorkflowHandle(self, id, run_id=started.run_id, result_type=result_type)
        handle.created = started.created
        return handle

    def get_workflow_handle(
        self, workflow_id: str, *, run_id: str | None = None, result_type: Any = None
    ) -> InternalWorkflowHandle:
        """A handle on an existing workflow id (the latest run unless ``run_id`` is given)."""
        validate_workflow_id(workflow_id)
        if run_id is not None:
            check_name(run_id, "a run id")
        return InternalWorkflowHandle(self, workflow_id, run_id=run_id, result_type=result_type)

    async def list_workflows(
        self,
        *,
        state: RunState | None = None,
        workflow_type: str | None = None,
        task_queue: str | None = None,
        limit: int = 100,
        before: tuple[datetime, str] | None = None,
    ) -> list[Run]:
        """Runs of this client's tenant, newest first (by ``requested_at``, then run id);
        with ``before=(requested_at, run_id)``, only the runs that sort after that one."""
        _check_filters(workflow_type, task_queue)
        return await self.store.list_runs(
            self.tenant_id,
            state=state,
            workflow_type=workflow_type,
            task_queue=task_queue,
            limit=limit,
            before=before,
        )

    async def list_pending_approvals(
        self, *, workflow_type: str | None = None, limit: int = 100
    ) -> list[Approval]:
        """Approvals of this tenant's open runs waiting on a decision, oldest first."""
        _check_filters(workflow_type, None)
        return await self.store.pending_approvals(
            self.tenant_id, workflow_type=workflow_type, limit=limit
        )

    # -- what operators read (OperatorClient) ---------------------------------------------

    async def events_after(self, workflow_id: str, run_id: str, after: int) -> list[Event]:
        """The run's events whose seq is above ``after`` (one read of those rows only)."""
        return await self.store.events(self.tenant_id, run_id, after)

    @contextlib.asynccontextmanager
    async def watch_run(self, workflow_id: str, run_id: str) -> AsyncIterator[RunWatch]:
        """A watch woken by the store's notifier on the run's channel (when the run closes);
        its reader polls for the other events."""
        if self.store.supports_listen_notify:
            await self.store.start_listening()
        with self.store.notifier.subscribe(run_channel(run_id)) as woken:
            yield RunWatch(woken)

    async def queue_figures(self) -> list[QueueFigures]:
        """Depth, lag, leases and dead letters per task queue, read from the tables."""
        return per_queue(await self.store.figures(self.tenant_id))

    async def status(self, *, failures: int = 10) -> Snapshot:
        """The queues, the workers holding their leases and the latest failures."""
        return await read_status(self.store, self.tenant_id, failures=failures)

    def for_tenant(self, tenant_id: str) -> InternalClient:
        """A client of ``tenant_id`` on this client's store, with its workflows and payload
        limit; closing it leaves the store open (this client closes it)."""
        other = _StoreSharingClient(
            self.store, tenant_id=tenant_id, max_payload_bytes=self.max_payload_bytes
        )
        other._definitions.update(self._definitions)
        return other


class _StoreSharingClient(InternalClient):
    """A tenant's client on the store of another client (which closes it)."""

    async def close(self) -> None:
        return None


def _check_filters(workflow_type: str | None, task_queue: str | None) -> None:
    """Refuse a listing filter no stored name can match (NUL would fail the query)."""
    if workflow_type:
        check_name(workflow_type, "the workflow type filter", example="Checkout")
    if task_queue:
        check_name(task_queue, "the task queue filter")


def _replay_query(
    defn: WorkflowDefinition,
    handler: HandlerDefinition,
    row: Any,
    history: list[Event],
    args: list[Any],
) -> Any:
    """Replay a run's history on a fresh instance and answer ``handler`` (any thread)."""
    instance = WorkflowInstance(defn, workflow_info(row), list(row.input))
    try:
        instance.advance(history, utcnow())
        value = instance.query(
            handler, codec.decode_args(codec.encode_args(args), handler.arg_types)
        )
    except WorkflowTaskError as exc:
        raise WorkflowQueryFailedError(f"query {handler.name} failed: {exc.__cause__!r}") from exc
    except Exception as exc:
        raise WorkflowQueryFailedError(f"query {handler.name} failed: {exc!r}") from exc
    finally:
        instance.dispose()
    return codec.decode(codec.encode(value), handler.return_type)


class InternalWorkflowHandle:
    """A handle on a workflow id; see ``turnout.contracts.WorkflowHandle``."""

    def __init__(
        self,
        client: InternalClient,
        workflow_id: str,
        *,
        run_id: str | None = None,
        result_type: Any = None,
    ) -> None:
        self._client = client
        self._id = workflow_id
        self._run_id = run_id
        self._result_type = result_type
        self.created: bool | None = None
        """On a handle ``start_workflow`` returned: True when that start made the run,
        False when it found one (an idempotency key seen before, an open run reused);
        None on a handle from ``get_workflow_handle``."""

    @property
    def id(self) -> str:
        """The workflow id."""
        return self._id

    @property
    def run_id(self) -> str | None:
        """The run this handle was created for (None: the latest run)."""
        return self._run_id

    @property
    def first_execution_run_id(self) -> str | None:
        """Same as ``run_id`` (temporalio's name)."""
        return self._run_id

    async def _run(self) -> Run:
        if self._run_id is not None:
            return await self._client.read_run(self._id, self._run_id)
        return await self._client.store.find_run(self._client.tenant_id, self._id)

    async def _open_run(self) -> Run:
        run = await self._run()
        if run.state.is_terminal:
            raise WorkflowNotFoundError(self._id, run.run_id)
        return run

    async def describe(self) -> Run:
        """The run's contract record."""
        return await self._run()

    async def input(self) -> list[Any]:
        """The JSON arguments the run was started with."""
        run_id = self._run_id or (await self._run()).run_id
        return await self._client.store.run_input(self._client.tenant_id, run_id)

    async def events(self) -> list[Event]:
        """The run's timeline in seq order."""
        run = await self._run()
        return await self._client.store.events(self._client.tenant_id, run.run_id)

    async def result(self, *, follow_runs: bool = True, timeout: timedelta | None = None) -> Any:
        """Wait for the run (following continue-as-new) to close.

        Returns its result, or raises WorkflowFailureError.
        """
        store = self._client.store
        deadline = asyncio.get_running_loop().time() + timeout.total_seconds() if timeout else None
        run_id = self._run_id or (await self._run()).run_id
        delay = 0.02
        if store.supports_listen_notify:
            await store.start_listening()
        while True:
            # Subscribed before reading: a close between the read and the wait still wakes it.
            with store.notifier.subscribe(run_channel(run_id)) as changed:
                run = await self._client.read_run(self._id, run_id)
                if run.state is RunState.CONTINUED_AS_NEW and follow_runs:
                    nxt = await store.next_run(self._client.tenant_id, run.run_id)
                    if nxt is not None:
                        run_id = nxt.run_id
                        continue
                if run.state.is_terminal:
                    return self._outcome(run)
                wait = delay
                if deadline is not None:
                    wait = min(wait, deadline - asyncio.get_running_loop().time())
                    if wait <= 0:
                        raise TimeoutError(f"workflow {self._id} did not close within {timeout}")
                try:
                    await asyncio.wait_for(changed.wait(), wait)
                except TimeoutError:
                    delay = min(delay * 2, 1.0 if store.supports_listen_notify else 0.25)

    def _outcome(self, run: Run) -> Any:
        if run.state is RunState.COMPLETED:
            result_type = self._result_type
            if result_type is None:
                defn = self._client.definition(run.workflow_type)
                result_type = defn.return_type if defn else Any
            return codec.decode(run.result, result_type)
        if run.failure is None:
            raise WorkflowFailureError(cause=RuntimeError(f"run ended {run.state.value}"))
        raise WorkflowFailureError(cause=exception_from_failure(run.failure))

    async def signal(
        self, signal: str | Callable[..., Any], arg: Any = ARG_UNSET, *, args: Sequence[Any] = ()
    ) -> None:
        """Deliver a signal to the open run."""
        name = signal_name(signal)
        try:
            encoded = codec.encode_args(call_args(arg, args))
        except ValueError as exc:
            raise TypeError(
                f"the arguments of signal {name} cannot be stored as JSON: {exc}"
            ) from None
        check_signal(name, encoded)
        codec.check_size(encoded, f"the arguments of signal {name}", self._client.max_payload_bytes)
        run = await self._open_run()
        if not await self._client.store.signal(self._client.tenant_id, run.run_id, name, encoded):
            raise WorkflowNotFoundError(self._id, run.run_id)

    async def query(
        self, query: str | Callable[..., Any], arg: Any = ARG_UNSET, *, args: Sequence[Any] = ()
    ) -> Any:
        """Answer a query by replaying the run's history in this process (no worker needed)."""
        run = await self._run()
        defn = (
            WorkflowDefinition.from_handler(query) if callable(query) else None
        ) or self._client.definition(run.workflow_type)
        if defn is None:
            raise WorkflowQueryFailedError(
                f"workflow type {run.workflow_type!r} is unknown to this client: pass the query "
                f"method (MyWorkflow.my_query) or register the class with connect(workflows=[...])"
            )
        handler = defn.query_for(query)
        if handler is None:
            raise WorkflowQueryFailedError(f"workflow {defn.name} has no query {query!r}")
        row, history = await self._client.store.load_history(run.run_id, 0)
        # The replay runs on a deterministic loop of its own, in a worker thread: a long
        # history does not hold up the caller's event loop (a server's other requests).
        return await asyncio.to_thread(
            _replay_query, defn, handler, row, history, call_args(arg, args)
        )

    async def cancel(self) -> None:
        """Request cancellation of the open run."""
        run = await self._open_run()
        if not await self._client.store.request_cancel(self._client.tenant_id, run.run_id):
            raise WorkflowNotFoundError(self._id, run.run_id)

    async def terminate(self, reason: str | None = None) -> None:
        """End the open run at once."""
        if reason is not None:
            check_text(reason, "the reason")
        run = await self._open_run()
        if not await self._client.store.terminate(self._client.tenant_id, run.run_id, reason):
            raise WorkflowNotFoundError(self._id, run.run_id)

    # -- governance ------------------------------------------------------------------------
    async def approve(self, name: str, *, by: str, reason: str | None = None) -> PolicyDecision:
        """Approve the open run's pending approval ``name`` (final; made once)."""
        return await self._decide(name, DecisionOutcome.APPROVED, by, reason)

    async def reject(self, name: str, *, by: str, reason: str | None = None) -> PolicyDecision:
        """Reject the open run's pending approval ``name`` (final; made once)."""
        return await self._decide(name, DecisionOutcome.REJECTED, by, reason)

    async def _decide(
        self, name: str, outcome: DecisionOutcome, by: str, reason: str | None
    ) -> PolicyDecision:
        check_decision(name, by, reason)
        run = await self._open_run()
        return await self._client.store.decide_approval(
            self._client.tenant_id, self._id, run.run_id, name, outcome, by=by, reason=reason
        )

    async def approvals(self) -> list[Approval]:
        """Every approval the run asked for, pending or decided, oldest first."""
        run = await self._run()
        return await self._client.store.approvals_of(self._client.tenant_id, run.run_id)

    async def policy_decisions(self) -> list[PolicyDecision]:
        """The run's policy decisions and approval decisions, oldest first."""
        run = await self._run()
        return await self._client.store.decisions_of(self._client.tenant_id, run.run_id)

    async def artifacts(self) -> list[Artifact]:
        """Metadata of the artifacts the run's activities recorded, oldest first."""
        run = await self._run()
        return await self._client.store.artifacts_of(self._client.tenant_id, run.run_id)
