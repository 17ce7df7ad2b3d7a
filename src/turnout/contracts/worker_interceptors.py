"""Worker interceptors: code that sees, and may change, what reaches workflow and
activity code and what that code asks for.

The shape is temporalio's (``temporalio.worker.Interceptor``). A
``turnout.worker.Interceptor`` given to ``Worker(..., interceptors=[...])`` (or to the
client's ``Client.connect(interceptors=[...])``) can:

- wrap each activity call: ``intercept_activity(next)`` returns an
  :class:`ActivityInboundInterceptor`, whose ``init(outbound)`` may wrap the activity's
  :class:`ActivityOutboundInterceptor` (``info``, ``heartbeat``);
- wrap each workflow run: ``workflow_interceptor_class(input)`` returns a
  :class:`WorkflowInboundInterceptor` class, made once per run with the next link; its
  ``init(outbound)`` may wrap the run's :class:`WorkflowOutboundInterceptor` (activities,
  local activities, children, external signals, continue-as-new).

Each input record carries ``headers``, the payloads the caller's interceptors set (see
``turnout.client.Interceptor``): a start's reach ``execute_workflow``, a signal's
``handle_signal``, an activity's ``execute_activity``.

On Temporal the chain is temporalio's own: the records are temporalio's, with the fields
of those below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from turnout.contracts.errors import ConfigurationError

__all__ = [
    "ActivityInboundInterceptor",
    "ActivityOutboundInterceptor",
    "ContinueAsNewInput",
    "ExecuteActivityInput",
    "ExecuteWorkflowInput",
    "HandleQueryInput",
    "HandleSignalInput",
    "HandleUpdateInput",
    "Interceptor",
    "SignalChildWorkflowInput",
    "SignalExternalWorkflowInput",
    "StartActivityInput",
    "StartChildWorkflowInput",
    "StartLocalActivityInput",
    "WorkflowInboundInterceptor",
    "WorkflowInterceptorClassInput",
    "WorkflowOutboundInterceptor",
]


# -- activities --------------------------------------------------------------------------
@dataclass
class ExecuteActivityInput:
    """One attempt of an activity."""

    fn: Callable[..., Any]
    args: Sequence[Any]
    executor: Any
    """The executor a synchronous activity runs on (None for an async one)."""
    headers: Mapping[str, Any]


class ActivityOutboundInterceptor:
    """What activity code calls out through (``activity.info()``, ``activity.heartbeat``)."""

    def __init__(self, next: ActivityOutboundInterceptor) -> None:
        self.next = next

    def info(self) -> Any:
        """The running activity's ``activity.Info``."""
        return self.next.info()

    def heartbeat(self, *details: Any) -> None:
        """Record a heartbeat with ``details``."""
        self.next.heartbeat(*details)


class ActivityInboundInterceptor:
    """What reaches activity code: one call per attempt."""

    def __init__(self, next: ActivityInboundInterceptor) -> None:
        self.next = next

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        """Called before the attempt with the outbound chain; wrap it and pass it on."""
        self.next.init(outbound)

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        """Run the attempt; its result."""
        return await self.next.execute_activity(input)


# -- workflows ---------------------------------------------------------------------------
@dataclass
class ExecuteWorkflowInput:
    """The run method's call."""

    type: type
    run_fn: Callable[..., Any]
    args: Sequence[Any]
    headers: Mapping[str, Any]


@dataclass
class HandleSignalInput:
    """A signal reaching its handler."""

    signal: str
    args: Sequence[Any]
    headers: Mapping[str, Any]


@dataclass
class HandleQueryInput:
    """A query reaching its handler."""

    id: str
    query: str
    args: Sequence[Any]
    headers: Mapping[str, Any]


@dataclass
class HandleUpdateInput:
    """An update reaching its validator, then its handler."""

    id: str
    update: str
    args: Sequence[Any]
    headers: Mapping[str, Any]


@dataclass
class StartActivityInput:
    """``workflow.execute_activity`` / ``start_activity``."""

    activity: str
    args: Sequence[Any]
    activity_id: str | None
    task_queue: str | None
    schedule_to_close_timeout: timedelta | None
    schedule_to_start_timeout: timedelta | None
    start_to_close_timeout: timedelta | None
    heartbeat_timeout: timedelta | None
    retry_policy: Any
    cancellation_type: Any
    headers: Mapping[str, Any]
    ret_type: Any = None
    target: Any = field(default=None, repr=False)
    """What the workflow passed: the activity function, or its name."""


@dataclass
class StartLocalActivityInput:
    """``workflow.execute_local_activity`` / ``start_local_activity``."""

    activity: str
    args: Sequence[Any]
    activity_id: str | None
    schedule_to_close_timeout: timedelta | None
    schedule_to_start_timeout: timedelta | None
    start_to_close_timeout: timedelta | None
    retry_policy: Any
    local_retry_threshold: timedelta | None
    cancellation_type: Any
    headers: Mapping[str, Any]
    ret_type: Any = None
    target: Any = field(default=None, repr=False)
    """What the workflow passed: the activity function, or its name."""


@dataclass
class StartChildWorkflowInput:
    """``workflow.execute_child_workflow`` / ``start_child_workflow``."""

    workflow: str
    args: Sequence[Any]
    id: str | None
    task_queue: str | None
    parent_close_policy: Any
    execution_timeout: timedelta | None
    task_timeout: timedelta | None
    id_reuse_policy: Any
    retry_policy: Any
    memo: Mapping[str, Any] | None
    search_attributes: Any
    headers: Mapping[str, Any]
    ret_type: Any = None
    target: Any = field(default=None, repr=False)
    """What the workflow passed: the child's run method, or its type name."""
    options: Any = field(default=None, repr=False)
    """The call's other options, as the executor keeps them."""


@dataclass
class SignalChildWorkflowInput:
    """A signal to a child through its handle."""

    signal: str
    args: Sequence[Any]
    child_workflow_id: str
    headers: Mapping[str, Any]


@dataclass
class SignalExternalWorkflowInput:
    """A signal to another workflow (``get_external_workflow_handle(...).signal``)."""

    signal: str
    args: Sequence[Any]
    namespace: str
    workflow_id: str
    workflow_run_id: str | None
    headers: Mapping[str, Any]


@dataclass
class ContinueAsNewInput:
    """``workflow.continue_as_new``."""

    workflow: str | None
    args: Sequence[Any]
    headers: Mapping[str, Any]
    target: Any = field(default=None, repr=False)
    """What the workflow passed: the run method, its type name, or None (the same)."""


@dataclass
class WorkflowInterceptorClassInput:
    """What ``workflow_interceptor_class`` is told (nothing turnout needs yet)."""

    unsafe_extern_functions: Mapping[str, Callable[..., Any]] = field(default_factory=dict)


class WorkflowOutboundInterceptor:
    """What workflow code calls out through."""

    def __init__(self, next: WorkflowOutboundInterceptor) -> None:
        self.next = next

    def info(self) -> Any:
        """The run's ``workflow.Info``."""
        return self.next.info()

    def start_activity(self, input: StartActivityInput) -> Any:
        """Schedule an activity; the handle the workflow awaits."""
        return self.next.start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> Any:
        """Start a local activity; the handle the workflow awaits."""
        return self.next.start_local_activity(input)

    async def start_child_workflow(self, input: StartChildWorkflowInput) -> Any:
        """Start a child; its handle once started."""
        return await self.next.start_child_workflow(input)

    async def signal_child_workflow(self, input: SignalChildWorkflowInput) -> None:
        """Signal a child."""
        await self.next.signal_child_workflow(input)

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        """Signal another workflow."""
        await self.next.signal_external_workflow(input)

    def continue_as_new(self, input: ContinueAsNewInput) -> Any:
        """End the run and start it again (raises)."""
        return self.next.continue_as_new(input)

    def __getattr__(self, name: str) -> Any:
        # On Temporal ``next`` is temporalio's link, with calls this class does not name.
        if name == "next":
            raise AttributeError(name)
        return getattr(self.next, name)


class WorkflowInboundInterceptor:
    """What reaches workflow code: the run method and each handler call."""

    def __init__(self, next: WorkflowInboundInterceptor) -> None:
        self.next = next

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        """Called once per run with the outbound chain; wrap it and pass it on."""
        self.next.init(outbound)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        """Run the run method; its result."""
        return await self.next.execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        """Run a signal handler."""
        await self.next.handle_signal(input)

    async def handle_query(self, input: HandleQueryInput) -> Any:
        """Run a query handler; its answer (nothing here may wait: a query answers at
        once, from the run as it is)."""
        return await self.next.handle_query(input)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        """Run an update's validator (raising rejects the update)."""
        self.next.handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        """Run an update's handler; its result."""
        return await self.next.handle_update_handler(input)


class Interceptor:
    """What ``Worker(..., interceptors=[...])`` takes: override either method."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """The link to put in front of ``next`` for each activity call."""
        return next

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        """The inbound class each workflow run is wrapped in (None: none)."""
        return None


def check_worker_interceptors(interceptors: object) -> None:
    """A ConfigurationError when ``Worker(interceptors=...)`` holds something else."""
    if not isinstance(interceptors, list | tuple):
        raise ConfigurationError(
            "interceptors must be a list of turnout.worker.Interceptor objects, "
            f"not {type(interceptors).__name__}"
        )
    for n, interceptor in enumerate(interceptors):
        if not worker_interceptors([interceptor]):
            raise ConfigurationError(
                f"interceptors[{n}] ({type(interceptor).__name__}) is not a worker "
                "interceptor: subclass turnout.worker.Interceptor"
            )


def worker_interceptors(interceptors: Sequence[object]) -> list[Interceptor]:
    """The worker interceptors among ``interceptors`` (a client's may be of both kinds)."""
    return [
        i  # type: ignore[misc]
        for i in interceptors
        if callable(getattr(i, "intercept_activity", None))
        and callable(getattr(i, "workflow_interceptor_class", None))
    ]
