"""Client interceptors: code that sees, and may change, every call a client makes.

The shape is temporalio's (``temporalio.client.Interceptor``): an :class:`Interceptor`
given to ``Client.connect(interceptors=[...])`` wraps the client's
:class:`OutboundInterceptor` chain; each call arrives at the outermost interceptor as one
input record, and each interceptor hands it on with ``await self.next.<call>(input)``,
changed or not. The last link is the executor itself.

``headers`` travel with a start, a signal, a query and an update to the workflow's own
inbound interceptors (``turnout.worker.WorkflowInboundInterceptor``). A header's value is a
payload made by a payload converter (``turnout.converter.default().payload_converter``
in client code, ``workflow.payload_converter()`` in workflow code): on the internal
executor the JSON value, on Temporal a Temporal payload (a JSON value given on Temporal
is converted to one).

On Temporal the chain is temporalio's own: an interceptor receives temporalio's input
records, which have the fields of the records below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from turnout.contracts.errors import ConfigurationError

if TYPE_CHECKING:
    from turnout.contracts.executor import WorkflowHandle
    from turnout.contracts.records import IdConflictPolicy, IdReusePolicy, Run
    from turnout.contracts.retry import RetryPolicy
    from turnout.contracts.updates import WorkflowUpdateHandle, WorkflowUpdateStage

__all__ = [
    "CancelWorkflowInput",
    "DescribeWorkflowInput",
    "Interceptor",
    "OutboundInterceptor",
    "QueryWorkflowInput",
    "SignalWorkflowInput",
    "StartWorkflowInput",
    "StartWorkflowUpdateInput",
    "TerminateWorkflowInput",
    "chain_client",
]


@dataclass
class StartWorkflowInput:
    """A start (``client.start_workflow``; ``execute_workflow`` and signal-with-start
    come through here too)."""

    workflow: str
    """The workflow type's name."""
    args: Sequence[Any]
    id: str
    task_queue: str
    execution_timeout: timedelta | None
    run_timeout: timedelta | None
    task_timeout: timedelta | None
    id_reuse_policy: IdReusePolicy
    id_conflict_policy: IdConflictPolicy
    retry_policy: RetryPolicy | None
    cron_schedule: str
    memo: Mapping[str, Any] | None
    search_attributes: Any
    headers: Mapping[str, Any]
    start_signal: str | None
    start_signal_args: Sequence[Any]
    ret_type: Any = None
    idempotency_key: str | None = None
    """turnout's idempotent start key (the internal executor's)."""
    correlation_id: str | None = None
    """The id that ties the run's events to the caller's (the internal executor's)."""


@dataclass
class SignalWorkflowInput:
    """A signal sent through a handle."""

    id: str
    run_id: str | None
    signal: str
    args: Sequence[Any]
    headers: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class QueryWorkflowInput:
    """A query sent through a handle."""

    id: str
    run_id: str | None
    query: str
    args: Sequence[Any]
    headers: Mapping[str, Any] = field(default_factory=dict)
    ret_type: Any = None
    rpc_timeout: timedelta | None = None


@dataclass
class StartWorkflowUpdateInput:
    """An update sent through a handle (``execute_update`` and ``start_update``)."""

    id: str
    run_id: str | None
    first_execution_run_id: str | None
    update_id: str | None
    update: str
    args: Sequence[Any]
    wait_for_stage: WorkflowUpdateStage
    headers: Mapping[str, Any] = field(default_factory=dict)
    ret_type: Any = None


@dataclass
class CancelWorkflowInput:
    """A cancellation request sent through a handle."""

    id: str
    run_id: str | None
    first_execution_run_id: str | None = None
    reason: str | None = None


@dataclass
class TerminateWorkflowInput:
    """A termination sent through a handle."""

    id: str
    run_id: str | None
    first_execution_run_id: str | None = None
    args: Sequence[Any] = ()
    reason: str | None = None


@dataclass
class DescribeWorkflowInput:
    """A describe sent through a handle."""

    id: str
    run_id: str | None


class OutboundInterceptor:
    """One link of a client's chain: each method hands its input on to ``self.next``.
    Subclass it and override the calls to intercept."""

    def __init__(self, next: OutboundInterceptor) -> None:
        self.next = next

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle:
        """Start a run; its handle."""
        return await self.next.start_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        """Send a signal."""
        await self.next.signal_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        """Ask a query; its answer."""
        return await self.next.query_workflow(input)

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle:
        """Send an update; its handle once it reached ``input.wait_for_stage``."""
        return await self.next.start_workflow_update(input)

    async def cancel_workflow(self, input: CancelWorkflowInput) -> None:
        """Request a run's cancellation."""
        await self.next.cancel_workflow(input)

    async def terminate_workflow(self, input: TerminateWorkflowInput) -> None:
        """End a run at once."""
        await self.next.terminate_workflow(input)

    async def describe_workflow(self, input: DescribeWorkflowInput) -> Run:
        """Describe a run."""
        return await self.next.describe_workflow(input)

    def __getattr__(self, name: str) -> Any:
        # On Temporal ``next`` is temporalio's own link, which has calls this class does
        # not name (schedules, listings, async activities): they pass through untouched.
        if name == "next":
            raise AttributeError(name)
        return getattr(self.next, name)


class Interceptor:
    """What ``Client.connect(interceptors=[...])`` takes. An object that is also a
    ``turnout.worker.Interceptor`` intercepts the workers of the client too."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        """The link to put in front of ``next`` (``next`` itself: no change)."""
        return next


def chain_client(
    interceptors: Sequence[Interceptor], terminal: OutboundInterceptor
) -> OutboundInterceptor:
    """The outermost link of the chain whose last is ``terminal``: the first interceptor
    given sees a call first, as on Temporal."""
    chain = terminal
    for interceptor in reversed(interceptors):
        chain = interceptor.intercept_client(chain)
    return chain


def check_client_interceptors(interceptors: object) -> list[Interceptor]:
    """``interceptors`` as a list; a ConfigurationError when one is not an interceptor."""
    if interceptors is None:
        return []
    if not isinstance(interceptors, list | tuple):
        raise ConfigurationError(
            "interceptors must be a list of turnout.client.Interceptor objects, "
            f"not {type(interceptors).__name__}"
        )
    for n, interceptor in enumerate(interceptors):
        if not callable(getattr(interceptor, "intercept_client", None)) and not callable(
            getattr(interceptor, "intercept_activity", None)
        ):
            raise ConfigurationError(
                f"interceptors[{n}] ({type(interceptor).__name__}) is not an interceptor: "
                "subclass turnout.client.Interceptor (or turnout.worker.Interceptor)"
            )
    return list(interceptors)
