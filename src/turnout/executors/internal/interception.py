"""A workflow run's interceptor chain on the internal executor.

The worker's ``turnout.worker.Interceptor`` objects name, per run, the inbound classes
its calls pass through (``workflow_interceptor_class``); the chain's last links are the
run itself: :class:`_RootInbound` calls the run method and the handlers,
:class:`_RootOutbound` does what the workflow's code asks for. A worker without
interceptors has no chain, and its runs call their code directly.
"""

from __future__ import annotations

import contextvars
import dataclasses
import inspect
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from turnout.contracts.executor import check_signal
from turnout.contracts.search_attributes import typed_from_stored
from turnout.contracts.worker_interceptors import (
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    SignalExternalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from turnout.executors.internal import codec
from turnout.executors.internal.continuation import ContinueAsNewError
from turnout.workflows._definitions import (
    ActivityDefinition,
    HandlerDefinition,
    WorkflowDefinition,
)
from turnout.workflows._runtime import (
    ActivityOptions,
    ChildWorkflowOptions,
    LocalActivityOptions,
    WorkflowInfo,
)

if TYPE_CHECKING:
    from turnout.executors.internal.engine import WorkflowInstance
    from turnout.executors.internal.operations import Operations

__all__ = [
    "WorkflowChain",
    "child_workflow_input",
    "inbound_classes",
    "local_activity_input",
    "signal_external",
    "start_activity_input",
]


async def signal_external(
    operations: Operations,
    workflow_id: str,
    run_id: str | None,
    signal: str,
    args: Sequence[Any],
    header: dict[str, Any],
) -> None:
    """Signal another workflow from a run (``get_external_workflow_handle().signal``)."""
    encoded = codec.encode_args(args)
    check_signal(signal, encoded)
    await operations.signal_external(workflow_id, run_id, signal, encoded, header)


def local_activity_input(
    activity: Any, args: Sequence[Any], options: LocalActivityOptions, result_type: Any
) -> StartLocalActivityInput:
    """An ``execute_local_activity`` call as the outbound chain receives it."""
    return StartLocalActivityInput(
        activity=_activity_name(activity),
        args=list(args),
        activity_id=options.activity_id,
        schedule_to_close_timeout=options.schedule_to_close_timeout,
        schedule_to_start_timeout=options.schedule_to_start_timeout,
        start_to_close_timeout=options.start_to_close_timeout,
        retry_policy=options.retry_policy,
        local_retry_threshold=options.local_retry_threshold,
        cancellation_type=options.cancellation_type,
        headers={},
        ret_type=result_type,
        target=activity,
    )


def child_workflow_input(
    workflow: Any, args: Sequence[Any], options: ChildWorkflowOptions, result_type: Any
) -> StartChildWorkflowInput:
    """A ``start_child_workflow`` call as the outbound chain receives it."""
    return StartChildWorkflowInput(
        workflow=_workflow_name(workflow),
        args=list(args),
        id=options.id,
        task_queue=options.task_queue,
        parent_close_policy=options.parent_close_policy,
        execution_timeout=options.execution_timeout,
        task_timeout=options.task_timeout,
        id_reuse_policy=options.id_reuse_policy,
        retry_policy=options.retry_policy,
        memo=options.memo,
        search_attributes=options.search_attributes,
        headers={},
        ret_type=result_type,
        target=workflow,
        options=options,
    )


def run_info(instance: WorkflowInstance) -> WorkflowInfo:
    """``workflow.info()``: the run's info, with its search attributes as they are now."""
    if not instance.search_attributes:
        return instance.info
    typed = typed_from_stored(instance.search_attributes)
    return dataclasses.replace(instance.info, typed_search_attributes=typed)


def _activity_name(target: Any) -> str:
    defn = ActivityDefinition.from_callable(target) if callable(target) else None
    return defn.name if defn is not None else str(target)


def _workflow_name(target: Any) -> str:
    defn = WorkflowDefinition.from_run_fn(target) if callable(target) else None
    return defn.name if defn is not None else str(getattr(target, "__name__", target))


def _target(target: Any, name: str, name_of: Any) -> Any:
    """What to schedule: what the workflow passed (its types known), unless an
    interceptor renamed the call: then the name it gave."""
    return target if target is not None and name_of(target) == name else name


def start_activity_input(
    activity: Any, args: Sequence[Any], options: ActivityOptions, result_type: Any
) -> StartActivityInput:
    """An ``execute_activity`` call as the outbound chain receives it."""
    return StartActivityInput(
        activity=_activity_name(activity),
        args=list(args),
        activity_id=options.activity_id,
        task_queue=options.task_queue,
        schedule_to_close_timeout=options.schedule_to_close_timeout,
        schedule_to_start_timeout=options.schedule_to_start_timeout,
        start_to_close_timeout=options.start_to_close_timeout,
        heartbeat_timeout=options.heartbeat_timeout,
        retry_policy=options.retry_policy,
        cancellation_type=options.cancellation_type,
        headers={},
        ret_type=result_type,
        target=activity,
    )


def inbound_classes(interceptors: Sequence[Interceptor]) -> list[type[WorkflowInboundInterceptor]]:
    """The inbound classes the worker's interceptors give each run, outermost first."""
    classes = []
    for interceptor in interceptors:
        cls = interceptor.workflow_interceptor_class(WorkflowInterceptorClassInput())
        if cls is not None:
            classes.append(cls)
    return classes


class _RootInbound(WorkflowInboundInterceptor):
    def __init__(self, instance: WorkflowInstance, chain: WorkflowChain) -> None:
        # The end of the chain: there is no next link.
        self._instance = instance
        self._chain = chain

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self._chain.outbound = outbound

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        return await input.run_fn(self._instance.workflow_object, *input.args)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        result = self._call("signal", input.signal, input.args)
        if inspect.isawaitable(result):
            await result

    async def handle_query(self, input: HandleQueryInput) -> Any:
        return self._call("query", input.query, input.args)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        handler = self._handler("update", input.update)
        if handler.validator is not None:
            owner = (self._instance.workflow_object,) if handler.method_name else ()
            handler.validator(*owner, *input.args)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        result = self._call("update", input.update, input.args)
        return await result if inspect.isawaitable(result) else result

    def _handler(self, kind: str, name: str) -> HandlerDefinition:
        handler = self._instance.handler_for(kind, name)
        if handler is None:
            raise RuntimeError(f"the workflow has no {kind} handler {name!r}")
        return handler

    def _call(self, kind: str, name: str, args: Sequence[Any]) -> Any:
        return self._instance.bound(self._handler(kind, name))(*args)


class _RootOutbound(WorkflowOutboundInterceptor):
    def __init__(self, instance: WorkflowInstance) -> None:
        # The end of the chain: there is no next link.
        self._instance = instance

    def info(self) -> Any:
        return run_info(self._instance)

    def start_activity(self, input: StartActivityInput) -> Any:
        options = ActivityOptions(
            task_queue=input.task_queue,
            schedule_to_close_timeout=input.schedule_to_close_timeout,
            schedule_to_start_timeout=input.schedule_to_start_timeout,
            start_to_close_timeout=input.start_to_close_timeout,
            heartbeat_timeout=input.heartbeat_timeout,
            retry_policy=input.retry_policy,
            activity_id=input.activity_id,
            cancellation_type=input.cancellation_type,
        )
        target = _target(input.target, input.activity, _activity_name)
        return self._instance.operations.schedule_activity(
            target, list(input.args), options, input.ret_type, header=dict(input.headers)
        )

    def start_local_activity(self, input: StartLocalActivityInput) -> Any:
        options = LocalActivityOptions(
            schedule_to_close_timeout=input.schedule_to_close_timeout,
            schedule_to_start_timeout=input.schedule_to_start_timeout,
            start_to_close_timeout=input.start_to_close_timeout,
            retry_policy=input.retry_policy,
            local_retry_threshold=input.local_retry_threshold,
            activity_id=input.activity_id,
            cancellation_type=input.cancellation_type,
        )
        target = _target(input.target, input.activity, _activity_name)
        return self._instance.markers.start_local(
            target, list(input.args), options, input.ret_type, header=dict(input.headers)
        )

    async def start_child_workflow(self, input: StartChildWorkflowInput) -> Any:
        options = dataclasses.replace(
            input.options or ChildWorkflowOptions(),
            id=input.id,
            task_queue=input.task_queue,
            execution_timeout=input.execution_timeout,
            task_timeout=input.task_timeout,
            retry_policy=input.retry_policy,
            id_reuse_policy=input.id_reuse_policy,
            parent_close_policy=input.parent_close_policy,
            memo=dict(input.memo) if input.memo is not None else None,
            search_attributes=input.search_attributes,
        )
        target = _target(input.target, input.workflow, _workflow_name)
        return self._instance.operations.start_child(
            target, list(input.args), options, input.ret_type, header=dict(input.headers)
        )

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        await signal_external(
            self._instance.operations,
            input.workflow_id,
            input.workflow_run_id,
            input.signal,
            input.args,
            dict(input.headers),
        )

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        header = codec.check_header(input.headers, codec.DEFAULT_MAX_PAYLOAD_BYTES)
        raise ContinueAsNewError(input.workflow, list(input.args), header)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the internal executor's workflow outbound has no call {name!r}")


class WorkflowChain:
    """One run's chain: :attr:`inbound` is where calls enter, :attr:`outbound` what the
    workflow's code calls out through (set by the links' ``init``)."""

    def __init__(
        self, classes: Sequence[type[WorkflowInboundInterceptor]], instance: WorkflowInstance
    ) -> None:
        self._instance = instance
        self._classes = list(classes)
        self.inbound: WorkflowInboundInterceptor = _RootInbound(instance, self)
        self.outbound: WorkflowOutboundInterceptor = _RootOutbound(instance)
        self.is_ready = False

    def ready(self) -> WorkflowChain:
        """The chain, its links made and their ``init`` called: once, inside the run's
        first activation, where workflow calls work (an error there fails the task, and
        the next task makes the links again)."""
        if not self.is_ready:
            inbound: WorkflowInboundInterceptor = _RootInbound(self._instance, self)
            for cls in reversed(self._classes):
                inbound = cls(inbound)
            self.outbound = _RootOutbound(self._instance)
            inbound.init(self.outbound)
            self.inbound = inbound
            self.is_ready = True
        return self

    def run(self, run_fn: Any, header: dict[str, Any]) -> Any:
        """The run method as the chain calls it."""

        async def intercepted(*args: Any) -> Any:
            input = ExecuteWorkflowInput(
                type=type(self._instance.workflow_object),
                run_fn=getattr(run_fn, "__func__", run_fn),  # unbound, as temporalio's
                args=args,
                headers=header,
            )
            return await self.ready().inbound.execute_workflow(input)

        return intercepted

    async def signal(self, name: str, args: Sequence[Any], header: dict[str, Any]) -> None:
        """A signal, through the chain."""
        await self.ready().inbound.handle_signal(HandleSignalInput(name, args, header))

    def validate_update(
        self, update_id: str, name: str, args: Sequence[Any], header: dict[str, Any]
    ) -> None:
        """An update's validation, through the chain."""
        input = HandleUpdateInput(update_id, name, args, header)
        self.ready().inbound.handle_update_validator(input)

    def run_update(
        self, update_id: str, name: str, args: Sequence[Any], header: dict[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        """An update's handler, through the chain (a coroutine to run as a task)."""
        input = HandleUpdateInput(update_id, name, args, header)
        return self.ready().inbound.handle_update_handler(input)

    def query(self, name: str, args: Sequence[Any], header: dict[str, Any]) -> Any:
        """A query, through the chain (in a context of its own: what its links set stays
        in it)."""
        answering = self.ready().inbound.handle_query(HandleQueryInput("", name, args, header))
        try:
            contextvars.copy_context().run(answering.send, None)
        except StopIteration as answered:
            return answered.value
        answering.close()
        raise RuntimeError(
            f"an interceptor's handle_query waited on something while answering query "
            f"{name!r}: a query answers at once, from the run as it is"
        )
