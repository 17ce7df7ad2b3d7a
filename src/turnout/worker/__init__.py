"""``turnout.worker``: the counterpart of ``temporalio.worker``.

``from temporalio.worker import Worker`` becomes ``from turnout.worker import Worker``:
``Worker(client, task_queue=..., workflows=[...], activities=[...])`` runs them on the
client's executor. An option turnout does not know is refused by name (a
ConfigurationError); :class:`~turnout.WorkerOptions` lists the ones it takes.
:class:`SharedStateManager` lets sync activities run in a process pool
(``activity_executor=ProcessPoolExecutor()``), as in temporalio. :class:`Replayer`
replays recorded histories (``handle.fetch_history()``) with the current code.
docs/compatibility.md lists what this module leaves out, and why.
"""

from turnout._connect import Worker
from turnout.contracts.shared_state import SharedStateManager
from turnout.contracts.worker_interceptors import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ContinueAsNewInput,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    SignalChildWorkflowInput,
    SignalExternalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from turnout.contracts.worker_options import WorkerOptions
from turnout.replay import Replayer, WorkflowReplayResult, WorkflowReplayResults

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
    "Replayer",
    "SharedStateManager",
    "SignalChildWorkflowInput",
    "SignalExternalWorkflowInput",
    "StartActivityInput",
    "StartChildWorkflowInput",
    "StartLocalActivityInput",
    "Worker",
    "WorkerOptions",
    "WorkflowInboundInterceptor",
    "WorkflowInterceptorClassInput",
    "WorkflowOutboundInterceptor",
    "WorkflowReplayResult",
    "WorkflowReplayResults",
]
