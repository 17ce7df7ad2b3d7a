"""A workflow run's interceptor chain on the internal executor.

The worker's ``turnout.worker.Interceptor`` objects name, per run, the inbound classes
its calls pass through (``workflow_interceptor_class``); the chain's last links are the
run itself: :class:`_RootInbound` calls the run method and the handlers,
:class:`_RootOutbound` does what the workflow's code asks for. A worker without
interceptors has no chain, and its runs call their code directly.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from turnout.contracts.worker_interceptors import (
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from turnout.workflows._definitions import ActivityDefinition
from turnout.workflows._runtime import ActivityOptions

if TYPE_CHECKING:
    from turnout.executors.internal.engine import WorkflowInstance

__all__ = ["WorkflowChain", "inbound_classes", "start_activity_input"]


def start_activity_input(
    activity: Any, args: Sequence[Any], options: ActivityOptions, result_type: Any
) -> StartActivityInput:
    """An ``execute_activity`` call as the outbound chain receives it."""
    defn = ActivityDefinition.from_callable(activity) if callable(activity) else None
    return StartActivityInput(
        activity=defn.name if defn is not None else str(activity),
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
        return await input.run_fn(*input.args)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        result = self._call("signal", input.signal, input.args)
        if inspect.isawaitable(result):
            await result

    def handle_query(self, input: HandleQueryInput) -> Any:
        return self._call("query", input.query, input.args)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        raise NotImplementedError("update validators are called by the run itself")

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        raise NotImplementedError("update handlers are called by the run itself")

    def _call(self, kind: str, name: str, args: Sequence[Any]) -> Any:
        handler = self._instance.handler_for(kind, name)
        if handler is None:
            raise RuntimeError(f"the workflow has no {kind} handler {name!r}")
        return self._instance.bound(handler)(*args)


class _RootOutbound(WorkflowOutboundInterceptor):
    def __init__(self, instance: WorkflowInstance) -> None:
        # The end of the chain: there is no next link.
        self._instance = instance

    def info(self) -> Any:
        return self._instance.info

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
        target = input.target if input.target is not None else input.activity
        return self._instance.operations.schedule_activity(
            target, list(input.args), options, input.ret_type, header=dict(input.headers)
        )

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the internal executor's workflow outbound has no call {name!r}")


class WorkflowChain:
    """One run's chain: :attr:`inbound` is where calls enter, :attr:`outbound` what the
    workflow's code calls out through (set by the links' ``init``)."""

    def __init__(
        self, classes: Sequence[type[WorkflowInboundInterceptor]], instance: WorkflowInstance
    ) -> None:
        self._instance = instance
        inbound: WorkflowInboundInterceptor = _RootInbound(instance, self)
        for cls in reversed(classes):
            inbound = cls(inbound)
        self.inbound = inbound
        self.outbound: WorkflowOutboundInterceptor = _RootOutbound(instance)
        self._ready = False

    def ready(self) -> WorkflowChain:
        """The chain, its links' ``init`` called (once, inside the run's first activation,
        where workflow calls work)."""
        if not self._ready:
            self._ready = True
            self.inbound.init(self.outbound)
        return self

    def run(self, run_fn: Any, header: dict[str, Any]) -> Any:
        """The run method as the chain calls it."""

        async def intercepted(*args: Any) -> Any:
            input = ExecuteWorkflowInput(
                type=type(self._instance.workflow_object),
                run_fn=run_fn,
                args=args,
                headers=header,
            )
            return await self.ready().inbound.execute_workflow(input)

        return intercepted

    async def signal(self, name: str, args: Sequence[Any], header: dict[str, Any]) -> None:
        """A signal, through the chain."""
        await self.ready().inbound.handle_signal(HandleSignalInput(name, args, header))

    def query(self, query_id: str, name: str, args: Sequence[Any]) -> Any:
        """A query, through the chain."""
        return self.ready().inbound.handle_query(HandleQueryInput(query_id, name, args, {}))
