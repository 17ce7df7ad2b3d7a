"""The internal executor's WorkflowHandle: results, signals, queries, cancel, approvals.

A handle reads and writes through its client's store and tenant; it holds no state of
its own beyond the workflow id, its three run ids (the run it addresses, the run its
result starts from, the first run of its chain) and the result type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from turnout.contracts.errors import (
    DataConversionError,
    WorkflowAlreadyCompletedError,
    WorkflowContinuedAsNewError,
    WorkflowFailureError,
    WorkflowNotFoundError,
    exception_from_failure,
)
from turnout.contracts.events import Event
from turnout.contracts.executor import ARG_UNSET, call_args, check_signal
from turnout.contracts.governance import Approval, check_decision
from turnout.contracts.history import WorkflowHistory
from turnout.contracts.interceptors import (
    CancelWorkflowInput,
    DescribeWorkflowInput,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowUpdateInput,
    TerminateWorkflowInput,
)
from turnout.contracts.limits import check_text
from turnout.contracts.pending import since_last_task
from turnout.contracts.records import Artifact, DecisionOutcome, PolicyDecision, Run
from turnout.contracts.states import RunState
from turnout.contracts.updates import UpdateCalls, WorkflowUpdateStage
from turnout.contracts.workers import WorkerInfo, no_worker_reason
from turnout.executors.internal import codec
from turnout.executors.internal.queries import ask_query
from turnout.executors.internal.store.notify import run_channel
from turnout.executors.internal.store.records import SignalParams
from turnout.executors.internal.store.rows import cron_schedule_of, same_chain
from turnout.executors.internal.updates import InternalWorkflowUpdateHandle, send_update
from turnout.workflows._definitions import (
    WorkflowDefinition,
    query_name,
    signal_name,
    update_name,
)

if TYPE_CHECKING:
    from turnout.executors.internal.client import InternalClient

__all__ = ["InternalWorkflowHandle"]

_CRON_FOLLOWS = (RunState.COMPLETED, RunState.FAILED)
_SIGNAL_TRIES = 3
"""How many times in all a signal to the workflow id's open run is sent, when the run it
found closed for a newer one meanwhile."""


class InternalWorkflowHandle(UpdateCalls):
    """A handle on a workflow id; see ``turnout.contracts.WorkflowHandle``."""

    def __init__(
        self,
        client: InternalClient,
        workflow_id: str,
        *,
        run_id: str | None = None,
        result_run_id: str | None = None,
        first_execution_run_id: str | None = None,
        result_type: Any = None,
    ) -> None:
        self._client = client
        self._id = workflow_id
        self._run_id = run_id
        self._result_run_id = result_run_id
        self._first_run_id = first_execution_run_id
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
        """The run every call but ``result()`` addresses (None: the latest run of the
        workflow id). None on a handle ``start_workflow`` returned, as on Temporal: its
        signals reach the run a continue-as-new started."""
        return self._run_id

    @property
    def first_execution_run_id(self) -> str | None:
        """The first run of the chain (of continue-as-new, retries and cron runs) that
        cancel, terminate and updates must reach; None: any chain."""
        return self._first_run_id

    @property
    def result_run_id(self) -> str | None:
        """The run whose result ``result()`` starts from, following the runs after it
        (None: the latest run)."""
        return self._result_run_id

    async def _run(self) -> Run:
        if self._run_id is not None:
            return await self._client.read_run(self._id, self._run_id)
        return await self._client.store.find_run(self._client.tenant_id, self._id)

    async def _chain_run(self) -> Run:
        """The run addressed, which must belong to the chain that began with
        ``first_execution_run_id`` (when set): a later workflow of the same id is not
        found, as on Temporal."""
        run = await self._run()
        first = self._first_run_id
        if first is None or run.run_id == first:
            return run
        try:
            start = await self._client.store.find_run(self._client.tenant_id, self._id, first)
        except WorkflowNotFoundError:
            raise WorkflowNotFoundError(self._id, first) from None
        if not same_chain(start, run):
            raise WorkflowNotFoundError(self._id, first)
        return run

    async def _open_run(self, *, in_chain: bool = False) -> Run:
        """The open run addressed (``in_chain``: of the handle's chain, see
        :meth:`_chain_run`); WorkflowAlreadyCompletedError when it has closed."""
        run = await (self._chain_run() if in_chain else self._run())
        if run.state.is_terminal:
            raise WorkflowAlreadyCompletedError(self._id, run.run_id, run.state.value)
        return run

    async def _gone(self, run_id: str) -> WorkflowNotFoundError:
        """Why a write to the run ``run_id`` found no open run: it closed meanwhile, or it
        is gone."""
        try:
            now = await self._client.store.find_run(self._client.tenant_id, self._id, run_id)
        except WorkflowNotFoundError as exc:
            return exc
        if now.state.is_terminal:
            return WorkflowAlreadyCompletedError(self._id, now.run_id, now.state.value)
        return WorkflowNotFoundError(self._id, run_id)

    # -- updates -----------------------------------------------------------------------
    async def start_update(
        self,
        update: str | Callable[..., Any],
        arg: Any = ARG_UNSET,
        *,
        wait_for_stage: WorkflowUpdateStage,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: Any = None,
    ) -> InternalWorkflowUpdateHandle:
        """Send an update to the open run and return once it reached ``wait_for_stage``
        (ACCEPTED or COMPLETED); a rejected update raises WorkflowUpdateFailedError."""
        name = update_name(update)
        if result_type is None and callable(update):
            defn = WorkflowDefinition.from_handler(update)
            handler = defn.update_for(name) if defn else None
            result_type = handler.return_type if handler else None
        # An interceptor hands back what the chain's end made (or one like it).
        return await self._client.outbound.start_workflow_update(  # type: ignore[return-value]
            StartWorkflowUpdateInput(
                id=self._id,
                run_id=self._run_id,
                first_execution_run_id=self._first_run_id,
                update_id=id,
                update=name,
                args=call_args(arg, args),
                wait_for_stage=wait_for_stage,
                ret_type=result_type,
            )
        )

    async def send_update(
        self,
        name: str,
        args: Sequence[Any],
        id: str | None,
        wait_for_stage: WorkflowUpdateStage,
        result_type: Any,
        header: dict[str, Any],
    ) -> InternalWorkflowUpdateHandle:
        """The update at the end of the interceptor chain."""
        run = await self._open_run(in_chain=True)
        return await send_update(
            self._client,
            self._id,
            run.run_id,
            name,
            args=args,
            id=id,
            wait_for_stage=wait_for_stage,
            result_type=result_type,
            header=header,
        )

    def get_update_handle(
        self, id: str, *, workflow_run_id: str | None = None, result_type: Any = None
    ) -> InternalWorkflowUpdateHandle:
        """A handle on an update sent before (no I/O until it is used)."""
        return InternalWorkflowUpdateHandle(
            self._client, self._id, workflow_run_id or self._run_id, id, result_type=result_type
        )

    def get_update_handle_for(
        self, update: Callable[..., Any], id: str, *, workflow_run_id: str | None = None
    ) -> InternalWorkflowUpdateHandle:
        """:meth:`get_update_handle`, the result type read from the update method."""
        defn = WorkflowDefinition.from_handler(update)
        handler = defn.update_for(update) if defn else None
        return self.get_update_handle(
            id,
            workflow_run_id=workflow_run_id,
            result_type=handler.return_type if handler else None,
        )

    async def describe(self) -> Run:
        """The run's contract record, with what it waits on while it is open."""
        return await self._client.outbound.describe_workflow(
            DescribeWorkflowInput(id=self._id, run_id=self._run_id)
        )

    async def read_description(self) -> Run:
        """The describe at the end of the interceptor chain."""
        run = await self._run()
        if run.state.is_terminal:
            return run
        activities, children = await self._client.store.pending_work(
            self._client.tenant_id, run.run_id
        )
        signals, updates, failing = since_last_task(
            await self._client.store.events_since_last_task(self._client.tenant_id, run.run_id)
        )
        stuck = stuck_reason(run, await self._client.workers(run.task_queue)) or failing
        return run.model_copy(
            update={
                "pending_activities": activities,
                "pending_children": children,
                "pending_signals": signals,
                "pending_updates": updates,
                "stuck_reason": stuck,
            }
        )

    async def input(self) -> list[Any]:
        """The JSON arguments the run was started with."""
        run_id = self._run_id or (await self._run()).run_id
        return await self._client.store.run_input(self._client.tenant_id, run_id)

    async def events(self) -> list[Event]:
        """The run's timeline in seq order."""
        run = await self._run()
        return await self._client.store.events(self._client.tenant_id, run.run_id)

    async def fetch_history(self) -> WorkflowHistory:
        """The run's history: its events, which carry every input and result."""
        return WorkflowHistory(self._id, await self.events())

    async def result(self, *, follow_runs: bool = True, timeout: timedelta | None = None) -> Any:
        """Wait for the run (following continue-as-new) to close.

        Returns its result, or raises WorkflowFailureError.
        """
        store = self._client.store
        deadline = asyncio.get_running_loop().time() + timeout.total_seconds() if timeout else None
        run_id = self._result_run_id or (await self._run()).run_id
        # A close wakes the waiter (a notification). Where other processes' closes do not
        # (an in-memory SQLite), the run is re-read at growing intervals; where they do,
        # only once a second, in case a notification was lost with its connection.
        await store.start_listening()
        delay = 1.0 if store.supports_listen_notify else 0.02
        while True:
            # Subscribed before reading: a close between the read and the wait still wakes it.
            with store.notifier.subscribe(run_channel(run_id)) as changed:
                run = await self._client.read_run(self._id, run_id)
                # A cron workflow's run is followed by the next one, as on Temporal.
                cron_next = cron_schedule_of(run) and run.state in _CRON_FOLLOWS
                if (run.state is RunState.CONTINUED_AS_NEW or cron_next) and follow_runs:
                    nxt = await store.next_run(self._client.tenant_id, run.run_id)
                    if nxt is not None:
                        run_id = nxt.run_id
                        continue
                elif run.state is RunState.CONTINUED_AS_NEW:
                    nxt = await store.next_run(self._client.tenant_id, run.run_id)
                    raise WorkflowContinuedAsNewError(nxt.run_id if nxt is not None else "")
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
        await self._client.outbound.signal_workflow(
            SignalWorkflowInput(
                id=self._id,
                run_id=self._run_id,
                signal=signal_name(signal),
                args=call_args(arg, args),
            )
        )

    async def send_signal(self, name: str, args: Sequence[Any], header: dict[str, Any]) -> None:
        """The signal at the end of the interceptor chain."""
        try:
            encoded = codec.encode_args(list(args))
        except ValueError as exc:
            raise DataConversionError(f"the arguments of signal {name}", exc) from None
        check_signal(name, encoded)
        codec.check_size(encoded, f"the arguments of signal {name}", self._client.max_payload_bytes)
        # No read first: the signal's own update finds the run open (the one named, or
        # the workflow id's open run), of this workflow id and tenant, or says why not.
        store, tenant = self._client.store, self._client.tenant_id
        signal = SignalParams(tenant, self._run_id, name, encoded, header, self._id)
        if self._run_id is not None:
            if not await store.signal(signal):
                raise await self._gone(self._run_id)
            return
        # The open run may close while the signal waits for its lock (a continue-as-new,
        # on PostgreSQL): the workflow id's newer run then takes it, as on Temporal.
        for _ in range(_SIGNAL_TRIES):
            if await store.signal(signal):
                return
            latest = await store.find_run(tenant, self._id)  # WorkflowNotFoundError
            if latest.state.is_terminal:
                raise WorkflowAlreadyCompletedError(self._id, latest.run_id, latest.state.value)
        raise WorkflowNotFoundError(self._id, None)

    async def query(
        self,
        query: str | Callable[..., Any],
        arg: Any = ARG_UNSET,
        *,
        args: Sequence[Any] = (),
        result_type: Any = None,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """Ask the run's query handler: a worker polling the run's task queue answers, from
        its cached instance or by replaying the run with its own code, as on Temporal.
        Closed runs answer too. No answer within ``rpc_timeout`` (30 s unset): TimeoutError."""
        name = query_name(query)
        if result_type is None and callable(query):
            defn = WorkflowDefinition.from_handler(query)
            handler = defn.query_for(name) if defn is not None else None
            result_type = handler.return_type if handler is not None else None
        return await self._client.outbound.query_workflow(
            QueryWorkflowInput(
                id=self._id,
                run_id=self._run_id,
                query=name,
                args=call_args(arg, args),
                ret_type=result_type,
                rpc_timeout=rpc_timeout,
            )
        )

    async def ask(
        self,
        name: str,
        args: Sequence[Any],
        result_type: Any,
        rpc_timeout: timedelta | None,
        header: dict[str, Any],
    ) -> Any:
        """The query at the end of the interceptor chain."""
        run = await self._run()
        return await ask_query(
            self._client,
            run,
            name,
            args=args,
            result_type=result_type,
            rpc_timeout=rpc_timeout,
            header=header,
        )

    async def cancel(self) -> None:
        """Request cancellation of the open run. On a run that has closed it does nothing,
        as on Temporal (the run is over either way)."""
        await self._client.outbound.cancel_workflow(
            CancelWorkflowInput(
                id=self._id, run_id=self._run_id, first_execution_run_id=self._first_run_id
            )
        )

    async def request_cancel(self) -> None:
        """The cancellation request at the end of the interceptor chain."""
        run = await self._chain_run()
        if run.state.is_terminal:
            return
        if not await self._client.store.request_cancel(self._client.tenant_id, run.run_id):
            gone = await self._gone(run.run_id)
            if not isinstance(gone, WorkflowAlreadyCompletedError):
                raise gone

    async def terminate(self, reason: str | None = None) -> None:
        """End the open run at once."""
        await self._client.outbound.terminate_workflow(
            TerminateWorkflowInput(
                id=self._id,
                run_id=self._run_id,
                first_execution_run_id=self._first_run_id,
                reason=reason,
            )
        )

    async def end(self, reason: str | None) -> None:
        """The termination at the end of the interceptor chain."""
        if reason is not None:
            check_text(reason, "the reason")
        run = await self._open_run(in_chain=True)
        if not await self._client.store.terminate(self._client.tenant_id, run.run_id, reason):
            raise await self._gone(run.run_id)

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


def stuck_reason(run: Run, workers: list[WorkerInfo]) -> str | None:
    """Why no worker can move the open ``run`` forward, given the live workers of its
    task queue (None: some worker runs its workflow type there)."""
    if not workers:
        return no_worker_reason(run.task_queue)
    types = sorted({t for w in workers for t in w.workflow_types or ()})
    if run.workflow_type in types:
        return None
    return (
        f"workflow type {run.workflow_type!r} is not registered on any worker polling task "
        f"queue {run.task_queue!r} (they run: {', '.join(types) or 'no workflows'})"
    )
