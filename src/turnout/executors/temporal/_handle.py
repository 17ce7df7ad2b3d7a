"""The Temporal executor's WorkflowHandle, and what it shares with the client.

``TemporalWorkflowHandle`` maps a ``temporalio`` workflow handle onto turnout's
contract: results and errors, signals, queries, the ``Run`` record, the history as
turnout events, and approvals decided by signal.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pydantic_core
import temporalio.client
import temporalio.service
from temporalio.client import WorkflowExecutionStatus as S

from turnout.contracts import errors as te
from turnout.contracts.calls import check_query, query_timed_out
from turnout.contracts.errors import Failure, failure_from_exception
from turnout.contracts.events import Event, EventType
from turnout.contracts.executor import ARG_UNSET, call_args, check_signal
from turnout.contracts.governance import (
    Approval,
    artifact_from_event,
    check_decision,
    decision_attributes,
    decision_from_event,
)
from turnout.contracts.history import WorkflowHistory
from turnout.contracts.limits import check_text
from turnout.contracts.memo import user_memo
from turnout.contracts.records import Artifact, DecisionOutcome, PolicyDecision, Run
from turnout.contracts.states import RunState
from turnout.contracts.updates import UpdateCalls, WorkflowUpdateStage
from turnout.executors.temporal._errors import suppressed as _suppressed
from turnout.executors.temporal._errors import to_turnout
from turnout.executors.temporal._governance import (
    APPROVAL_SIGNAL,
    approvals_from_memo,
    decided_of,
    pending_of,
)
from turnout.executors.temporal._history import map_history
from turnout.executors.temporal._pending import explain
from turnout.executors.temporal._runtime import CORRELATION_MEMO
from turnout.executors.temporal._search import from_temporal
from turnout.executors.temporal._updates import TemporalWorkflowUpdateHandle, send_update
from turnout.workflows._definitions import WorkflowDefinition, query_name, signal_name

if TYPE_CHECKING:
    from turnout.executors.temporal._client import TemporalClient

__all__ = ["STATES", "TemporalWorkflowHandle", "jsonable", "not_found"]

STATES = {
    S.RUNNING: RunState.RUNNING,
    S.COMPLETED: RunState.COMPLETED,
    S.FAILED: RunState.FAILED,
    S.CANCELED: RunState.CANCELED,
    S.TERMINATED: RunState.TERMINATED,
    S.TIMED_OUT: RunState.TIMED_OUT,
    S.CONTINUED_AS_NEW: RunState.CONTINUED_AS_NEW,
}
"""Temporal's execution status -> the run state."""

_TIMED_OUT = (
    temporalio.service.RPCStatusCode.CANCELLED,
    temporalio.service.RPCStatusCode.DEADLINE_EXCEEDED,
)
"""How a call that ran out of its ``rpc_timeout`` ends (temporalio says "Timeout expired")."""


def not_found(exc: BaseException, workflow_id: str, run_id: str | None) -> BaseException:
    """``exc`` as WorkflowNotFoundError when Temporal says there is no such run, and as
    WorkflowAlreadyCompletedError when the run is closed ("workflow execution already
    completed")."""
    if isinstance(exc, temporalio.service.RPCError) and exc.status in (
        temporalio.service.RPCStatusCode.NOT_FOUND,
    ):
        if "already completed" in exc.message:
            return te.WorkflowAlreadyCompletedError(workflow_id, run_id)
        return te.WorkflowNotFoundError(workflow_id, run_id)
    return exc


def jsonable(values: Sequence[Any]) -> Any:
    """``values`` as JSON values, as the data converter sends them (unconvertible values
    are left as they are: the converter refuses those itself). A value that is bytes
    travels as a binary payload, not JSON: it counts as its base64 text."""
    try:
        return pydantic_core.to_jsonable_python(
            [base64.b64encode(v).decode("ascii") if isinstance(v, bytes) else v for v in values]
        )
    except (pydantic_core.PydanticSerializationError, UnicodeDecodeError):
        return []


class TemporalWorkflowHandle(UpdateCalls):
    """A turnout WorkflowHandle on a Temporal workflow."""

    def __init__(
        self,
        client: TemporalClient,
        workflow_id: str,
        *,
        run_id: str | None,
        result_run_id: str | None,
        first_execution_run_id: str | None,
        result_type: Any,
    ) -> None:
        self._client = client
        self._id = workflow_id
        self._run_id = run_id
        self._result_run_id = result_run_id
        self._first_run_id = first_execution_run_id
        self._result_type = result_type
        self._raw = client.raw.get_workflow_handle(
            workflow_id, run_id=run_id, first_execution_run_id=first_execution_run_id
        )

    @property
    def id(self) -> str:
        """The workflow id."""
        return self._id

    @property
    def run_id(self) -> str | None:
        """The run every call but ``result()`` addresses (None: the latest run)."""
        return self._run_id

    @property
    def first_execution_run_id(self) -> str | None:
        """The first run of the chain cancel, terminate and updates must reach."""
        return self._first_run_id

    @property
    def result_run_id(self) -> str | None:
        """The run whose result ``result()`` starts from (None: the latest run)."""
        return self._result_run_id

    async def result(self, *, follow_runs: bool = True, timeout: timedelta | None = None) -> Any:
        """Wait for the workflow; its result, or WorkflowFailureError with turnout's cause chain."""
        result_type = self._result_type
        if result_type is None:  # a handle by id: the registered class knows the type
            result_type = await self._registered_result_type()
        handle = self._client.raw.get_workflow_handle(
            self._id, run_id=self._result_run_id, result_type=result_type
        )
        try:
            return await handle.result(follow_runs=follow_runs, rpc_timeout=timeout)
        except temporalio.client.WorkflowContinuedAsNewError as exc:
            raise te.WorkflowContinuedAsNewError(exc.new_execution_run_id) from None
        except temporalio.client.WorkflowFailureError as exc:
            raise _suppressed(te.WorkflowFailureError(cause=to_turnout(exc.cause)))
        except temporalio.service.RPCError as exc:
            raise not_found(exc, self._id, self._result_run_id) from exc

    async def _registered_result_type(self) -> Any:
        try:
            workflow_type = (await self._raw.describe()).workflow_type
        except temporalio.service.RPCError as exc:
            raise not_found(exc, self._id, self._run_id) from exc
        defn = self._client.definition(workflow_type)
        return defn.return_type if defn is not None else None

    async def signal(
        self, signal: str | Callable[..., Any], arg: Any = ARG_UNSET, *, args: Sequence[Any] = ()
    ) -> None:
        """Deliver a signal."""
        name = signal_name(signal)
        signal_args = call_args(arg, args)
        check_signal(name, jsonable(signal_args))
        try:
            await self._raw.signal(name, args=signal_args)
        except temporalio.service.RPCError as exc:
            raise not_found(exc, self._id, self._run_id) from exc
        except pydantic_core.PydanticSerializationError as exc:
            raise te.DataConversionError(f"the arguments of signal {name}", exc) from None

    async def query(
        self,
        query: str | Callable[..., Any],
        arg: Any = ARG_UNSET,
        *,
        args: Sequence[Any] = (),
        result_type: Any = None,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """Ask the workflow's query handler (a worker answers); TimeoutError when none
        answers within ``rpc_timeout`` (30 s unset)."""
        name = query_name(query)
        timeout = check_query(name, rpc_timeout)
        if result_type is None:
            defn = WorkflowDefinition.from_handler(query) if callable(query) else None
            handler = defn.query_for(name) if defn else None
            result_type = handler.return_type if handler else None
        try:
            return await self._raw.query(
                name, args=call_args(arg, args), result_type=result_type, rpc_timeout=timeout
            )
        except temporalio.client.WorkflowQueryFailedError as exc:
            raise te.WorkflowQueryFailedError(str(exc)) from exc
        except temporalio.service.RPCError as exc:
            if exc.status in _TIMED_OUT:
                raise await self._query_timed_out(name, timeout) from None
            raise not_found(exc, self._id, self._run_id) from exc

    async def _query_timed_out(self, name: str, timeout: timedelta) -> TimeoutError:
        """The error of a query no worker answered, naming the run's task queue."""
        try:
            task_queue: str | None = (await self._raw.describe()).task_queue
        except temporalio.service.RPCError:
            task_queue = None
        return query_timed_out(name, self._id, task_queue, timeout)

    async def cancel(self) -> None:
        """Request cancellation."""
        try:
            await self._raw.cancel()
        except temporalio.service.RPCError as exc:
            raise not_found(exc, self._id, self._run_id) from exc

    async def terminate(self, reason: str | None = None) -> None:
        """Terminate the run."""
        if reason is not None:
            check_text(reason, "the reason")
        try:
            await self._raw.terminate(reason=reason)
        except temporalio.service.RPCError as exc:
            raise not_found(exc, self._id, self._run_id) from exc

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
    ) -> TemporalWorkflowUpdateHandle:
        """Send an update and return once it reached ``wait_for_stage``."""
        return await send_update(
            self._raw,
            update,
            arg,
            args=args,
            id=id,
            wait_for_stage=wait_for_stage,
            result_type=result_type,
        )

    def get_update_handle(
        self, id: str, *, workflow_run_id: str | None = None, result_type: Any = None
    ) -> TemporalWorkflowUpdateHandle:
        """A handle on an update sent before (no I/O until it is used)."""
        return TemporalWorkflowUpdateHandle(
            self._raw.get_update_handle(
                id, workflow_run_id=workflow_run_id or self._run_id, result_type=result_type
            )
        )

    def get_update_handle_for(
        self, update: Callable[..., Any], id: str, *, workflow_run_id: str | None = None
    ) -> TemporalWorkflowUpdateHandle:
        """:meth:`get_update_handle`, the result type read from the update method."""
        return TemporalWorkflowUpdateHandle(
            self._raw.get_update_handle_for(
                update,  # type: ignore[arg-type]  # temporalio's definition is on it
                id,
                workflow_run_id=workflow_run_id or self._run_id,
            )
        )

    async def describe(self) -> Run:
        """The contract Run, mapped from Temporal's description, with what the run waits
        on while it is open."""
        return await self.describe_run(explained=True)

    async def describe_run(self, *, explained: bool) -> Run:
        """The contract Run; ``explained``: with its pending work and why it does not move
        (a few more calls to the server, left out of listings)."""
        try:
            desc = await self._raw.describe()
        except temporalio.service.RPCError as exc:
            raise not_found(exc, self._id, self._run_id) from exc
        memo = await desc.memo()
        state = STATES.get(desc.status or S.RUNNING, RunState.RUNNING)
        if state is RunState.RUNNING and pending_of(memo):
            state = RunState.WAITING_APPROVAL
        result: Any = None
        failure: Failure | None = None
        if state.is_terminal and state is not RunState.CONTINUED_AS_NEW:
            result, failure = await self._outcome(desc.id, desc.run_id)
        run = Run(
            workflow_id=desc.id,
            run_id=desc.run_id,
            workflow_type=desc.workflow_type,
            task_queue=desc.task_queue,
            tenant_id=self._client.tenant_id,
            correlation_id=str(memo.get(CORRELATION_MEMO, "")),
            state=state,
            requested_at=desc.start_time,
            started_at=desc.execution_time,
            closed_at=desc.close_time,
            result=result,
            failure=failure,
            parent_workflow_id=desc.parent_id,
            parent_run_id=desc.parent_run_id,
            memo_values=user_memo(memo),
            search_attribute_values=from_temporal(desc.typed_search_attributes),
        )
        if not explained or state.is_terminal:
            return run
        history = self._client.get_workflow_handle(desc.id, run_id=desc.run_id)
        return run.model_copy(update=await explain(self._client.raw, desc, history.events))

    async def _outcome(self, workflow_id: str, run_id: str) -> tuple[Any, Failure | None]:
        """A closed run's result or failure (a cron run's own, not its next run's)."""
        raw = self._client.raw.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            return await raw.result(follow_runs=False), None
        except temporalio.client.WorkflowFailureError as exc:
            return None, failure_from_exception(to_turnout(exc.cause), with_stack=False)
        except temporalio.client.WorkflowContinuedAsNewError:
            # A cron run closes naming its next run: read its own close from its history.
            last = (await raw.fetch_history()).events[-1]
            converter = self._client.raw.data_converter
            if last.HasField("workflow_execution_completed_event_attributes"):
                done = last.workflow_execution_completed_event_attributes.result.payloads
                values = await converter.decode(done) if done else []
                return (values[0] if values else None), None
            if last.HasField("workflow_execution_failed_event_attributes"):
                raised = await converter.decode_failure(
                    last.workflow_execution_failed_event_attributes.failure
                )
                return None, failure_from_exception(to_turnout(raised), with_stack=False)
            return None, None

    async def events(self) -> list[Event]:
        """The run's timeline, mapped from Temporal's history."""
        return list((await self.fetch_history()).events)

    async def fetch_history(self) -> WorkflowHistory:
        """The run's history: Temporal's own, and the timeline mapped from it."""
        try:
            desc = await self._raw.describe()
            history = await self._client.raw.get_workflow_handle(
                desc.id, run_id=desc.run_id
            ).fetch_history()
        except temporalio.service.RPCError as exc:
            raise not_found(exc, self._id, self._run_id) from exc
        memo = await desc.memo()
        events = map_history(
            list(history.events),
            run_id=desc.run_id,
            workflow_id=desc.id,
            correlation_id=str(memo.get(CORRELATION_MEMO, "")),
            tenant_id=self._client.tenant_id,
        )
        return WorkflowHistory(desc.id, events, temporal=history.to_json_dict())

    # -- governance ----------------------------------------------------------------------

    async def _description(
        self,
    ) -> tuple[temporalio.client.WorkflowExecutionDescription, Mapping[str, Any]]:
        try:
            desc = await self._raw.describe()
        except temporalio.service.RPCError as exc:
            raise not_found(exc, self._id, self._run_id) from exc
        return desc, await desc.memo()

    async def approve(self, name: str, *, by: str, reason: str | None = None) -> PolicyDecision:
        """Approve the run's pending approval ``name``; a decision is final."""
        return await self._decide(name, DecisionOutcome.APPROVED, by, reason)

    async def reject(self, name: str, *, by: str, reason: str | None = None) -> PolicyDecision:
        """Reject the run's pending approval ``name``; a decision is final."""
        return await self._decide(name, DecisionOutcome.REJECTED, by, reason)

    async def _decide(
        self, name: str, outcome: DecisionOutcome, by: str, reason: str | None
    ) -> PolicyDecision:
        check_decision(name, by, reason)
        desc, memo = await self._description()
        if desc.status not in (None, S.RUNNING):
            raise te.WorkflowNotFoundError(self._id, desc.run_id)
        pending, decided = pending_of(memo), decided_of(memo)
        if name not in pending:
            if name in decided:
                earlier = decided[name]
                raise te.ApprovalAlreadyDecidedError(
                    self._id,
                    name,
                    outcome=str(earlier.get("outcome")),
                    decided_by=earlier.get("decided_by"),
                )
            raise te.ApprovalNotFoundError(self._id, name, pending=list(pending))
        await self._refuse_a_decision_in_flight(name)
        decision = PolicyDecision(
            decision_id=uuid.uuid4().hex,
            run_id=desc.run_id,
            workflow_id=desc.id,
            tenant_id=self._client.tenant_id,
            name=name,
            outcome=outcome,
            decided_by=by,
            reason=reason,
            decided_at=datetime.now(UTC),
            attributes={"kind": "approval"},
        )
        run = self._client.raw.get_workflow_handle(desc.id, run_id=desc.run_id)
        try:
            await run.signal(APPROVAL_SIGNAL, decision_attributes(decision))
        except temporalio.service.RPCError as exc:
            raise not_found(exc, self._id, desc.run_id) from exc
        return decision

    async def _refuse_a_decision_in_flight(self, name: str) -> None:
        """The memo shows ``name`` pending until the workflow handles a decision; a decision
        signal already in the history (sent, not yet handled) makes this one a second one."""
        since_request: list[Event] = []
        for event in await self.events():
            if event.type is EventType.APPROVAL_REQUESTED and event.attributes.get("name") == name:
                since_request = []
            elif event.type is EventType.APPROVAL_DECIDED and event.attributes.get("name") == name:
                since_request.append(event)
        if since_request:
            first = since_request[0].attributes
            raise te.ApprovalAlreadyDecidedError(
                self._id,
                name,
                outcome=str(first.get("outcome")),
                decided_by=first.get("decided_by"),
            )

    async def approvals(self) -> list[Approval]:
        """Every approval the run asked for (the latest of each name), oldest first."""
        desc, memo = await self._description()
        return approvals_from_memo(
            memo,
            workflow_id=desc.id,
            run_id=desc.run_id,
            workflow_type=desc.workflow_type,
            tenant_id=self._client.tenant_id,
        )

    async def policy_decisions(self) -> list[PolicyDecision]:
        """Every policy decision and approval decision of the run, oldest first."""
        kinds = (EventType.POLICY_DECIDED, EventType.APPROVAL_DECIDED)
        return [decision_from_event(e) for e in await self.events() if e.type in kinds]

    async def artifacts(self) -> list[Artifact]:
        """Metadata of every artifact the run's activities recorded, oldest first."""
        events = await self.events()
        return [artifact_from_event(e) for e in events if e.type is EventType.ARTIFACT_RECORDED]
