"""The runtimes turnout's facade dispatches to inside a Temporal worker, set by interceptors."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, cast

import temporalio.activity
import temporalio.common
import temporalio.exceptions
import temporalio.worker
import temporalio.workflow

from turnout.contracts import errors as te
from turnout.contracts.governance import Policy
from turnout.contracts.memo import user_memo
from turnout.contracts.payloads import PayloadConverter
from turnout.contracts.records import (
    DEFAULT_TENANT,
    IdReusePolicy,
    ParentClosePolicy,
    PolicyDecision,
)
from turnout.contracts.retry import RetryPolicy
from turnout.contracts.search_attributes import typed_from_stored
from turnout.contracts.updates import UpdateInfo
from turnout.executors.temporal._activity import TemporalActivityRuntime, crossing_processes
from turnout.executors.temporal._dynamic import get_handler, set_handler
from turnout.executors.temporal._errors import suppressed as _suppressed
from turnout.executors.temporal._errors import to_temporal, to_turnout
from turnout.executors.temporal._governance import (
    ADMISSION_ACTIVITY,
    WorkflowApprovals,
    admit,
    check_policies,
)
from turnout.executors.temporal._search import from_temporal, typed_to_temporal, updates_to_temporal
from turnout.workflows._definitions import ActivityDefinition, WorkflowDefinition
from turnout.workflows._runtime import (
    ActivityOptions,
    ChildWorkflowOptions,
    LocalActivityOptions,
    ParentInfo,
    WorkflowInfo,
    add_workflow_runtime_finder,
    reset_activity_runtime,
    reset_workflow_runtime,
    set_activity_runtime,
    set_workflow_runtime,
)

if TYPE_CHECKING:
    from turnout.executors.temporal._client import TemporalClient

__all__ = ["CORRELATION_MEMO", "TurnoutInterceptor", "temporal_retry_policy"]

CORRELATION_MEMO = "turnout_correlation_id"


def temporal_retry_policy(policy: RetryPolicy | None) -> temporalio.common.RetryPolicy | None:
    """turnout's RetryPolicy as temporalio's (same fields)."""
    if policy is None:
        return None
    return temporalio.common.RetryPolicy(
        initial_interval=policy.initial_interval,
        backoff_coefficient=policy.backoff_coefficient,
        maximum_interval=policy.maximum_interval,
        maximum_attempts=policy.maximum_attempts,
        non_retryable_error_types=list(policy.non_retryable_error_types or []) or None,
    )


_CHILD_REUSE = {
    IdReusePolicy.ALLOW_DUPLICATE: temporalio.common.WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    IdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY: (
        temporalio.common.WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
    ),
    IdReusePolicy.REJECT_DUPLICATE: temporalio.common.WorkflowIDReusePolicy.REJECT_DUPLICATE,
}
_PARENT_CLOSE = {
    ParentClosePolicy.TERMINATE: temporalio.workflow.ParentClosePolicy.TERMINATE,
    ParentClosePolicy.REQUEST_CANCEL: temporalio.workflow.ParentClosePolicy.REQUEST_CANCEL,
    ParentClosePolicy.ABANDON: temporalio.workflow.ParentClosePolicy.ABANDON,
}


def _name_of_activity(activity: Any) -> str:
    if isinstance(activity, str):
        return activity
    return ActivityDefinition.must_from_callable(activity).name


def _name_of_workflow(workflow: Any) -> str:
    if isinstance(workflow, str):
        return workflow
    defn = WorkflowDefinition.from_run_fn(workflow)
    if defn is None and isinstance(workflow, type):
        defn = WorkflowDefinition.must_from_class(workflow)
    if defn is None:
        raise TypeError(f"{workflow!r} is not a workflow: pass MyWorkflow.run or a type name")
    return defn.name


async def _converted(awaitable: Awaitable[Any]) -> Any:
    """Await an activity or child; failures in turnout's classes.

    When the awaiting task itself was cancelled (the workflow is being
    cancelled), the workflow sees ``asyncio.CancelledError`` at its await point,
    as on the internal executor, instead of temporalio's ActivityError/
    ChildWorkflowError wrapping a cancellation.
    """
    try:
        return await awaitable
    except temporalio.exceptions.FailureError as exc:
        task = asyncio.current_task()
        if (
            task is not None
            and task.cancelling()
            and temporalio.exceptions.is_cancelled_exception(exc)
        ):
            raise asyncio.CancelledError() from exc
        raise _suppressed(to_turnout(exc))


class _ChildHandle:
    """Awaitable on a child's result, with its ``id``."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.id: str = handle.id

    def __await__(self) -> Any:
        return _converted(self._handle).__await__()

    def cancel(self) -> bool:
        return bool(self._handle.cancel())


class TemporalWorkflowRuntime:
    """``turnout.workflow.*`` inside a Temporal workflow."""

    def __init__(self, approvals: WorkflowApprovals | None = None) -> None:
        self._approvals = approvals if approvals is not None else WorkflowApprovals()

    def info(self) -> WorkflowInfo:
        i = temporalio.workflow.info()
        parent = (
            ParentInfo(i.parent.workflow_id, i.parent.run_id, i.parent.namespace)
            if i.parent
            else None
        )
        return WorkflowInfo(
            workflow_id=i.workflow_id,
            run_id=i.run_id,
            workflow_type=i.workflow_type,
            task_queue=i.task_queue,
            attempt=i.attempt,
            start_time=i.start_time,
            namespace=i.namespace,
            correlation_id=str(temporalio.workflow.memo_value(CORRELATION_MEMO, "")),
            continued_run_id=i.continued_run_id,
            parent=parent,
            execution_timeout=i.execution_timeout,
            task_timeout=i.task_timeout,
            typed_search_attributes=typed_from_stored(from_temporal(i.typed_search_attributes)),
            cron_schedule=i.cron_schedule or None,
        )

    def now(self) -> datetime:
        return temporalio.workflow.now()

    def random(self) -> random.Random:
        return temporalio.workflow.random()

    def uuid4(self) -> uuid.UUID:
        return temporalio.workflow.uuid4()

    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        from turnout.workflows.workflow import logger

        return logger

    def is_replaying(self) -> bool:
        return bool(temporalio.workflow.unsafe.is_replaying())

    def all_handlers_finished(self) -> bool:
        return temporalio.workflow.all_handlers_finished()

    def set_handler(
        self,
        kind: str,
        name: str,
        handler: Callable[..., Any] | None,
        validator: Callable[..., Any] | None,
    ) -> None:
        set_handler(kind, name, handler, validator)

    def get_handler(self, kind: str, name: str) -> Callable[..., Any] | None:
        return get_handler(kind, name)

    def payload_converter(self) -> PayloadConverter:
        # temporalio's, with the same methods (its from_payload is overloaded).
        return cast("PayloadConverter", temporalio.workflow.payload_converter())

    def in_sandbox(self) -> bool:
        return temporalio.workflow.unsafe.in_sandbox()

    def is_read_only(self) -> bool:
        return temporalio.workflow.unsafe.is_read_only()

    def history_length(self) -> int:
        return temporalio.workflow.info().get_current_history_length()

    def history_size(self) -> int:
        return temporalio.workflow.info().get_current_history_size()

    def continue_as_new_suggested(self) -> bool:
        return temporalio.workflow.info().is_continue_as_new_suggested()

    def memo(self) -> dict[str, Any]:
        return user_memo(temporalio.workflow.memo())

    def upsert_memo(self, updates: dict[str, Any]) -> None:
        temporalio.workflow.upsert_memo(updates)

    def upsert_search_attributes(self, updates: dict[str, Any]) -> None:
        temporalio.workflow.upsert_search_attributes(updates_to_temporal(updates))

    def current_update_info(self) -> UpdateInfo | None:
        info = temporalio.workflow.current_update_info()
        return None if info is None else UpdateInfo(id=info.id, name=info.name)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait_condition(self, fn: Callable[[], bool], timeout: float | None) -> None:
        await temporalio.workflow.wait_condition(fn, timeout=timeout)

    def start_activity(
        self, activity: Any, args: Sequence[Any], options: ActivityOptions, result_type: Any
    ) -> Awaitable[Any]:
        handle = temporalio.workflow.start_activity(
            _name_of_activity(activity),
            args=list(args),
            task_queue=options.task_queue,
            schedule_to_close_timeout=options.schedule_to_close_timeout,
            schedule_to_start_timeout=options.schedule_to_start_timeout,
            start_to_close_timeout=options.start_to_close_timeout,
            heartbeat_timeout=options.heartbeat_timeout,
            retry_policy=temporal_retry_policy(options.retry_policy),
            activity_id=options.activity_id,
            result_type=result_type if result_type is not Any else None,
            cancellation_type=temporalio.workflow.ActivityCancellationType[
                options.cancellation_type.name
            ],
        )
        return asyncio.ensure_future(_converted(handle))

    def start_local_activity(
        self, activity: Any, args: Sequence[Any], options: LocalActivityOptions, result_type: Any
    ) -> Awaitable[Any]:
        handle = temporalio.workflow.start_local_activity(
            _name_of_activity(activity),
            args=list(args),
            schedule_to_close_timeout=options.schedule_to_close_timeout,
            schedule_to_start_timeout=options.schedule_to_start_timeout,
            start_to_close_timeout=options.start_to_close_timeout,
            retry_policy=temporal_retry_policy(options.retry_policy),
            local_retry_threshold=options.local_retry_threshold,
            activity_id=options.activity_id,
            result_type=result_type if result_type is not Any else None,
            cancellation_type=temporalio.workflow.ActivityCancellationType[
                options.cancellation_type.name
            ],
        )
        return asyncio.ensure_future(_converted(handle))

    async def start_child_workflow(
        self, workflow: Any, args: Sequence[Any], options: ChildWorkflowOptions, result_type: Any
    ) -> Any:
        try:
            return _ChildHandle(await self._start_child(workflow, args, options, result_type))
        except temporalio.exceptions.WorkflowAlreadyStartedError as exc:
            raise te.WorkflowAlreadyStartedError(
                exc.workflow_id, _name_of_workflow(workflow)
            ) from None

    async def _start_child(
        self, workflow: Any, args: Sequence[Any], options: ChildWorkflowOptions, result_type: Any
    ) -> Any:
        return await temporalio.workflow.start_child_workflow(
            _name_of_workflow(workflow),
            args=list(args),
            id=options.id or str(temporalio.workflow.uuid4()),
            task_queue=options.task_queue,
            execution_timeout=options.execution_timeout,
            task_timeout=options.task_timeout,
            retry_policy=temporal_retry_policy(options.retry_policy),
            result_type=result_type if result_type is not Any else None,
            memo={**(options.memo or {}), CORRELATION_MEMO: self.info().correlation_id},
            search_attributes=typed_to_temporal(options.search_attributes or {}),
            id_reuse_policy=_CHILD_REUSE[options.id_reuse_policy or IdReusePolicy.ALLOW_DUPLICATE],
            parent_close_policy=_PARENT_CLOSE[
                options.parent_close_policy or ParentClosePolicy.TERMINATE
            ],
        )

    def continue_as_new(self, workflow: Any, args: Sequence[Any]) -> NoReturn:
        if workflow is None:
            temporalio.workflow.continue_as_new(args=list(args))
        temporalio.workflow.continue_as_new(args=list(args), workflow=_name_of_workflow(workflow))

    async def signal_external_workflow(
        self, workflow_id: str, run_id: str | None, signal: str, args: Sequence[Any]
    ) -> None:
        handle = temporalio.workflow.get_external_workflow_handle(workflow_id, run_id=run_id)
        await _converted(handle.signal(signal, args=list(args)))

    async def cancel_external_workflow(self, workflow_id: str, run_id: str | None) -> None:
        handle = temporalio.workflow.get_external_workflow_handle(workflow_id, run_id=run_id)
        await _converted(handle.cancel())

    def patched(self, patch_id: str) -> bool:
        return temporalio.workflow.patched(patch_id)

    def deprecate_patch(self, patch_id: str) -> None:
        temporalio.workflow.deprecate_patch(patch_id)

    async def request_approval(
        self, name: str, details: dict[str, Any], timeout: float | None
    ) -> PolicyDecision:
        return await self._approvals.request(name, details, timeout)


def _reset_workflow_runtime(token: Any) -> None:
    # A suspended workflow coroutine that the garbage collector closes (an evicted
    # instance) runs this in another context, where the token cannot be reset; there is
    # nothing to undo then.
    with contextlib.suppress(ValueError):
        reset_workflow_runtime(token)


def _outside_interceptors() -> TemporalWorkflowRuntime | None:
    """The runtime of temporalio workflow code that runs outside the interceptors: the
    workflow object's ``__init__``, which temporalio calls before the run starts."""
    return TemporalWorkflowRuntime() if temporalio.workflow.in_workflow() else None


def _misfit(handler: Callable[..., Any], args: Sequence[Any]) -> str | None:
    """Why ``handler`` cannot take ``args``, or None when it can."""
    try:
        inspect.signature(handler).bind(*args)
    except TypeError as exc:
        return str(exc)
    except ValueError:  # no signature to read (a builtin): let the call decide
        return None
    return None


class _WorkflowInbound(temporalio.worker.WorkflowInboundInterceptor):
    """One per workflow instance: it holds the instance's approvals and runtime."""

    tenant_id: ClassVar[str] = DEFAULT_TENANT
    admits: ClassVar[bool] = False
    """True when the worker has policies: they are asked before the workflow code starts."""

    def __init__(self, next: temporalio.worker.WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        self._approvals = WorkflowApprovals(self.tenant_id)
        self._runtime = TemporalWorkflowRuntime(self._approvals)

    async def execute_workflow(self, input: temporalio.worker.ExecuteWorkflowInput) -> Any:
        token = set_workflow_runtime(self._runtime)
        try:
            self._approvals.register()
            if self.admits:
                await admit(self._approvals, input.args)
            return await super().execute_workflow(input)
        except BaseException as exc:
            raise _suppressed(to_temporal(exc))
        finally:
            _reset_workflow_runtime(token)

    async def handle_signal(self, input: temporalio.worker.HandleSignalInput) -> None:
        handler = temporalio.workflow.get_signal_handler(input.signal)
        reason = _misfit(handler, input.args) if handler is not None else None
        if reason is not None:
            # temporalio drops a signal whose arguments fail to decode; one whose count
            # does not fit would fail every workflow task. Drop both, as the internal
            # executor does, so one bad send never wedges the run.
            temporalio.workflow.logger.warning(
                "signal %r dropped, its arguments do not fit the handler: %s",
                input.signal,
                reason,
            )
            return
        token = set_workflow_runtime(self._runtime)
        try:
            await super().handle_signal(input)
        except BaseException as exc:
            raise _suppressed(to_temporal(exc))
        finally:
            _reset_workflow_runtime(token)

    def handle_update_validator(self, input: temporalio.worker.HandleUpdateInput) -> None:
        token = set_workflow_runtime(self._runtime)
        try:
            super().handle_update_validator(input)
        except BaseException as exc:
            raise _suppressed(to_temporal(exc))
        finally:
            _reset_workflow_runtime(token)

    async def handle_update_handler(self, input: temporalio.worker.HandleUpdateInput) -> Any:
        token = set_workflow_runtime(self._runtime)
        try:
            return await super().handle_update_handler(input)
        except BaseException as exc:
            raise _suppressed(to_temporal(exc))
        finally:
            _reset_workflow_runtime(token)

    async def handle_query(self, input: temporalio.worker.HandleQueryInput) -> Any:
        token = set_workflow_runtime(self._runtime)
        try:
            return await super().handle_query(input)
        finally:
            _reset_workflow_runtime(token)


class _ActivityInbound(temporalio.worker.ActivityInboundInterceptor):
    def __init__(
        self,
        next: temporalio.worker.ActivityInboundInterceptor,
        client: TemporalClient | None,
        policies: Sequence[Policy],
    ) -> None:
        super().__init__(next)
        self._client = client
        self._policies = policies

    async def execute_activity(self, input: temporalio.worker.ExecuteActivityInput) -> Any:
        token = set_activity_runtime(TemporalActivityRuntime(self._client))
        try:
            if (
                self._policies
                and self._client is not None
                and temporalio.activity.info().activity_type != ADMISSION_ACTIVITY
            ):
                await check_policies(self._client, self._policies, input.args)
            return await super().execute_activity(crossing_processes(input))
        except BaseException as exc:
            raise _suppressed(to_temporal(exc))
        finally:
            reset_activity_runtime(token)


class TurnoutInterceptor(temporalio.worker.Interceptor):
    """Makes turnout's runtimes current around workflow and activity code; consults the
    worker's policies before each activity (``client`` records their decisions)."""

    def __init__(
        self,
        client: TemporalClient | None = None,
        *,
        policies: Sequence[Policy] = (),
        admits: bool = False,
    ) -> None:
        """``admits`` replays runs that start policies admitted (see ``turnout.admit``)."""
        if policies and client is None:
            raise ValueError("policies need the worker's client to record their decisions")
        self._client = client
        self._policies = tuple(policies)
        add_workflow_runtime_finder(_outside_interceptors)
        tenant = client.tenant_id if client is not None else DEFAULT_TENANT
        self._workflow_class = type(
            "_WorkflowInbound",
            (_WorkflowInbound,),
            {"tenant_id": tenant, "admits": bool(policies) or admits},
        )

    def intercept_activity(
        self, next: temporalio.worker.ActivityInboundInterceptor
    ) -> temporalio.worker.ActivityInboundInterceptor:
        return _ActivityInbound(next, self._client, self._policies)

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[temporalio.worker.WorkflowInboundInterceptor]:
        return self._workflow_class
