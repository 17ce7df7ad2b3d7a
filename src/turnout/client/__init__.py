"""``turnout.client``: the counterpart of ``temporalio.client``.

``from temporalio.client import Client`` becomes ``from turnout.client import Client``::

    client = await Client.connect("localhost:7233")         # a Temporal cluster
    client = await Client.connect("sqlite:///turnout.db")   # the internal executor
    client = await Client.connect()                         # whatever TURNOUT_* says

Every executor's client and handle have the same methods; ``turnout.connect()`` is the
short form. ``describe()`` returns a :class:`WorkflowExecutionDescription` (turnout's
``Run``), whose ``status`` is Temporal's coarse status and ``state`` turnout's finer one.
docs/compatibility.md lists what this module leaves out, and why.
"""

import turnout._connect  # noqa: F401  (installs what Client.connect calls)
from turnout.contracts.async_activity import (
    ActivityNotFoundError,
    AsyncActivityCancelledError,
    AsyncActivityHandle,
    AsyncActivityIDReference,
)
from turnout.contracts.errors import (
    WorkflowContinuedAsNewError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
)
from turnout.contracts.executor import Client, WorkflowHandle
from turnout.contracts.history import WorkflowHistory
from turnout.contracts.interceptors import (
    CancelWorkflowInput,
    DescribeWorkflowInput,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    TerminateWorkflowInput,
)
from turnout.contracts.listing import (
    WorkflowExecutionAsyncIterator,
    WorkflowExecutionCount,
    WorkflowExecutionCountAggregationGroup,
)
from turnout.contracts.records import Run
from turnout.contracts.schedules import (
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleInfo,
    ScheduleIntervalSpec,
    ScheduleListDescription,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from turnout.contracts.states import WorkflowExecutionStatus
from turnout.contracts.updates import (
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateStage,
)

WorkflowExecutionDescription = Run
"""What ``handle.describe()`` returns: turnout's :class:`~turnout.Run`, which also answers
to Temporal's names (``id``, ``status``, ``start_time``, ``close_time``, ``parent_id``,
``typed_search_attributes``)."""

WorkflowExecution = Run
"""What ``client.list_workflows(query)`` gives for each run: turnout's
:class:`~turnout.Run`, with Temporal's names as on :data:`WorkflowExecutionDescription`."""

__all__ = [
    "ActivityNotFoundError",
    "AsyncActivityCancelledError",
    "AsyncActivityHandle",
    "AsyncActivityIDReference",
    "CancelWorkflowInput",
    "Client",
    "DescribeWorkflowInput",
    "Interceptor",
    "OutboundInterceptor",
    "QueryWorkflowInput",
    "Schedule",
    "ScheduleActionExecutionStartWorkflow",
    "ScheduleActionResult",
    "ScheduleActionStartWorkflow",
    "ScheduleAlreadyRunningError",
    "ScheduleBackfill",
    "ScheduleCalendarSpec",
    "ScheduleDescription",
    "ScheduleHandle",
    "ScheduleInfo",
    "ScheduleIntervalSpec",
    "ScheduleListDescription",
    "ScheduleOverlapPolicy",
    "SchedulePolicy",
    "ScheduleRange",
    "ScheduleSpec",
    "ScheduleState",
    "ScheduleUpdate",
    "ScheduleUpdateInput",
    "SignalWorkflowInput",
    "StartWorkflowInput",
    "StartWorkflowUpdateInput",
    "TerminateWorkflowInput",
    "WithStartWorkflowOperation",
    "WorkflowContinuedAsNewError",
    "WorkflowExecution",
    "WorkflowExecutionAsyncIterator",
    "WorkflowExecutionCount",
    "WorkflowExecutionCountAggregationGroup",
    "WorkflowExecutionDescription",
    "WorkflowExecutionStatus",
    "WorkflowFailureError",
    "WorkflowHandle",
    "WorkflowHistory",
    "WorkflowQueryFailedError",
    "WorkflowUpdateFailedError",
    "WorkflowUpdateHandle",
    "WorkflowUpdateStage",
]
