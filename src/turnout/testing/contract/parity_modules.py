"""turnout's classification of the module-level names of temporalio's ``client``,
``worker``, ``common``, ``exceptions``, ``testing`` and ``contrib.pydantic`` modules, as
data. :mod:`turnout.testing.contract.parity` merges it into its lists; the methods of
``Client`` and ``WorkflowHandle`` and the authoring modules are classified there.

Names are prefixed by the module they live in: ``client.X`` is ``temporalio.client.X``
and ``turnout.client.X``; likewise ``worker.``, ``common.``, ``exceptions.``,
``testing.`` and ``contrib.pydantic.``. Only plain data.
"""

from __future__ import annotations

__all__ = ["MODULE_IGNORED", "MODULE_SUPPORTED", "MODULE_UNSUPPORTED"]

MODULE_SUPPORTED: tuple[str, ...] = (
    "client.CancelWorkflowInput",
    "client.DescribeWorkflowInput",
    "client.Interceptor",
    "client.OutboundInterceptor",
    "client.QueryWorkflowInput",
    "client.SignalWorkflowInput",
    "client.StartWorkflowInput",
    "client.StartWorkflowUpdateInput",
    "client.TerminateWorkflowInput",
    "worker.ActivityInboundInterceptor",
    "worker.ActivityOutboundInterceptor",
    "worker.ContinueAsNewInput",
    "worker.ExecuteActivityInput",
    "worker.ExecuteWorkflowInput",
    "worker.HandleQueryInput",
    "worker.HandleSignalInput",
    "worker.HandleUpdateInput",
    "worker.Interceptor",
    "worker.SignalChildWorkflowInput",
    "worker.SignalExternalWorkflowInput",
    "worker.StartActivityInput",
    "worker.StartChildWorkflowInput",
    "worker.StartLocalActivityInput",
    "worker.WorkflowInboundInterceptor",
    "worker.WorkflowInterceptorClassInput",
    "worker.WorkflowOutboundInterceptor",
    "client.Client",
    "client.AsyncActivityCancelledError",
    "client.AsyncActivityHandle",
    "client.AsyncActivityIDReference",
    "client.WorkflowHandle",
    "client.WorkflowHistory",
    "client.Schedule",
    "client.ScheduleActionExecutionStartWorkflow",
    "client.ScheduleActionResult",
    "client.ScheduleActionStartWorkflow",
    "client.ScheduleAlreadyRunningError",
    "client.ScheduleBackfill",
    "client.ScheduleCalendarSpec",
    "client.ScheduleDescription",
    "client.ScheduleHandle",
    "client.ScheduleInfo",
    "client.ScheduleIntervalSpec",
    "client.ScheduleListDescription",
    "client.ScheduleOverlapPolicy",
    "client.SchedulePolicy",
    "client.ScheduleRange",
    "client.ScheduleSpec",
    "client.ScheduleState",
    "client.ScheduleUpdate",
    "client.ScheduleUpdateInput",
    "client.WorkflowExecution",
    "client.WorkflowExecutionAsyncIterator",
    "client.WorkflowExecutionCount",
    "client.WorkflowExecutionCountAggregationGroup",
    "client.WorkflowExecutionDescription",
    "client.WorkflowExecutionStatus",
    "client.WorkflowContinuedAsNewError",
    "client.WorkflowFailureError",
    "client.WorkflowQueryFailedError",
    "client.WithStartWorkflowOperation",
    "client.WorkflowUpdateFailedError",
    "client.WorkflowUpdateHandle",
    "client.WorkflowUpdateStage",
    "worker.Worker",
    "worker.SharedStateManager",
    "worker.Replayer",
    "worker.WorkflowReplayResult",
    "worker.WorkflowReplayResults",
    "common.RetryPolicy",
    "common.WorkflowIDReusePolicy",
    "common.WorkflowIDConflictPolicy",
    "common.RawValue",
    "common.SearchAttributeIndexedValueType",
    "common.SearchAttributeKey",
    "common.SearchAttributePair",
    "common.SearchAttributeUpdate",
    "common.TypedSearchAttributes",
    "exceptions.ActivityError",
    "exceptions.ApplicationError",
    "exceptions.CancelledError",
    "exceptions.ChildWorkflowError",
    "exceptions.FailureError",
    "exceptions.RetryState",
    "exceptions.TemporalError",
    "exceptions.TerminatedError",
    "exceptions.TimeoutError",
    "exceptions.TimeoutType",
    "exceptions.WorkflowAlreadyStartedError",
    "exceptions.is_cancelled_exception",
    "testing.ActivityEnvironment",
    "testing.WorkflowEnvironment",
    "contrib.pydantic.pydantic_data_converter",
)
"""Module-level temporalio names turnout offers under the same name and module."""

_SCHEDULES = (
    "a listed schedule is a whole ScheduleListDescription (its Schedule and ScheduleInfo), "
    "its one action ScheduleActionStartWorkflow; list_schedules returns an async iterator"
)
_NEXUS = "Nexus is not supported"
_STANDALONE = "activities run only inside workflows"
_VERSIONING = "worker versioning is Temporal-only; use workflow.patched"
_CONNECTION = "connection details come from turnout's settings (TURNOUT_*)"
_INTERCEPTORS = (
    "interceptors see starts, signals, queries, updates, cancel, terminate and describe, "
    "and workflow and activity calls; this call passes through them unseen"
)
_CONVERTER = "turnout converts every value with pydantic from the type hints"
_VISIBILITY = "handle.events() gives the timeline; fetch_history() the whole history"
_TUNING = "turnout's worker takes max_concurrent_* and max_memory_bytes instead"
_METRICS = "metrics come from turnout's Observer and /metrics, not from workflow code"
_TESTING = "not offered yet: test against a real executor with turnout's pytest fixtures"

MODULE_UNSUPPORTED: dict[str, str] = {
    # temporalio.client
    "client.WorkflowUpdateRPCTimeoutOrCancelledError": "a timed-out wait for an update "
    "raises the built-in TimeoutError",
    **dict.fromkeys(
        [
            "client.ScheduleAction",
            "client.ScheduleActionExecution",
            "client.ScheduleAsyncIterator",
            "client.ScheduleListAction",
            "client.ScheduleListActionStartWorkflow",
            "client.ScheduleListInfo",
            "client.ScheduleListSchedule",
            "client.ScheduleListState",
        ],
        _SCHEDULES,
    ),
    **dict.fromkeys(
        [
            "client.Callback",
            "client.NexusClient",
            "client.NexusOperationExecution",
            "client.NexusOperationExecutionAsyncIterator",
            "client.NexusOperationExecutionCancellationInfo",
            "client.NexusOperationExecutionCount",
            "client.NexusOperationExecutionCountAggregationGroup",
            "client.NexusOperationExecutionDescription",
            "client.NexusOperationFailureError",
            "client.NexusOperationHandle",
        ],
        _NEXUS,
    ),
    **dict.fromkeys(
        [
            "client.ActivityCancellationDetails",
            "client.ActivityExecution",
            "client.ActivityExecutionAsyncIterator",
            "client.ActivityExecutionCount",
            "client.ActivityExecutionCountAggregationGroup",
            "client.ActivityExecutionDescription",
            "client.ActivityExecutionOptions",
            "client.ActivityExecutionStatus",
            "client.ActivityFailureError",
            "client.ActivityHandle",
            "client.ActivityOptionsKey",
            "client.ActivityOptionsKeys",
            "client.ActivityOptionsUpdate",
            "client.PendingActivityState",
        ],
        _STANDALONE,
    ),
    **dict.fromkeys(
        [
            "client.BuildIdOp",
            "client.BuildIdOpAddNewCompatible",
            "client.BuildIdOpAddNewDefault",
            "client.BuildIdOpMergeSets",
            "client.BuildIdOpPromoteBuildIdWithinSet",
            "client.BuildIdOpPromoteSetByBuildId",
            "client.BuildIdReachability",
            "client.BuildIdVersionSet",
            "client.TaskReachabilityType",
            "client.WorkerBuildIdVersionSets",
            "client.WorkerTaskReachability",
        ],
        _VERSIONING,
    ),
    **dict.fromkeys(
        [
            "client.ClientConfig",
            "client.ClientConnectConfig",
            "client.CloudOperationsClient",
            "client.ConnectConfig",
            "client.DnsLoadBalancingConfig",
            "client.GrpcCompression",
            "client.HeaderCodecBehavior",
            "client.HttpConnectProxyConfig",
            "client.KeepAliveConfig",
            "client.PayloadLimitsConfig",
            "client.Plugin",
            "client.RPCError",
            "client.RPCStatusCode",
            "client.RPCTimeoutOrCancelledError",
            "client.RetryConfig",
            "client.ServiceClient",
            "client.TLSConfig",
        ],
        _CONNECTION,
    ),
    **dict.fromkeys(
        [
            "client.BackfillScheduleInput",
            "client.CancelActivityInput",
            "client.CancelNexusOperationInput",
            "client.CompleteAsyncActivityInput",
            "client.CountActivitiesInput",
            "client.CountNexusOperationsInput",
            "client.CountWorkflowsInput",
            "client.CreateScheduleInput",
            "client.DeleteScheduleInput",
            "client.DescribeActivityInput",
            "client.DescribeNexusOperationInput",
            "client.DescribeScheduleInput",
            "client.FailAsyncActivityInput",
            "client.FetchWorkflowHistoryEventsInput",
            "client.GetNexusOperationResultInput",
            "client.GetWorkerBuildIdCompatibilityInput",
            "client.GetWorkerTaskReachabilityInput",
            "client.HeartbeatAsyncActivityInput",
            "client.ListActivitiesInput",
            "client.ListNexusOperationsInput",
            "client.ListSchedulesInput",
            "client.ListWorkflowsInput",
            "client.PauseActivityInput",
            "client.PauseScheduleInput",
            "client.ReportCancellationAsyncActivityInput",
            "client.StartActivityInput",
            "client.StartNexusOperationInput",
            "client.StartWorkflowUpdateWithStartInput",
            "client.TerminateActivityInput",
            "client.TerminateNexusOperationInput",
            "client.TriggerScheduleInput",
            "client.UnpauseActivityInput",
            "client.UnpauseScheduleInput",
            "client.UpdateActivityOptionsInput",
            "client.UpdateScheduleInput",
            "client.UpdateWithStartStartWorkflowInput",
            "client.UpdateWithStartUpdateWorkflowInput",
            "client.UpdateWorkerBuildIdCompatibilityInput",
        ],
        _INTERCEPTORS,
    ),
    **dict.fromkeys(
        [
            "client.DataConverter",
            "client.SerializationContext",
            "client.ActivitySerializationContext",
            "client.WorkflowSerializationContext",
            "client.WithSerializationContext",
            "client.StorageDriverActivityInfo",
            "client.StorageDriverSelectContext",
            "client.StorageDriverStoreContext",
            "client.StorageDriverWorkflowInfo",
        ],
        _CONVERTER,
    ),
    **dict.fromkeys(
        [
            "client.WorkflowHistoryEventAsyncIterator",
            "client.WorkflowHistoryEventFilterType",
        ],
        _VISIBILITY,
    ),
    "client.WorkflowQueryRejectedError": "queries are never rejected by the run's status",
    # temporalio.worker
    **dict.fromkeys(
        [
            "worker.ExecuteNexusOperationCancelInput",
            "worker.ExecuteNexusOperationStartInput",
            "worker.NexusOperationInboundInterceptor",
            "worker.StartNexusOperationInput",
        ],
        _INTERCEPTORS,
    ),
    **dict.fromkeys(
        [
            "worker.ActivitySlotInfo",
            "worker.CustomSlotSupplier",
            "worker.FixedSizeSlotSupplier",
            "worker.LocalActivitySlotInfo",
            "worker.NexusSlotInfo",
            "worker.PollerBehaviorAutoscaling",
            "worker.PollerBehaviorSimpleMaximum",
            "worker.ResourceBasedSlotConfig",
            "worker.ResourceBasedSlotSupplier",
            "worker.ResourceBasedTunerConfig",
            "worker.SlotMarkUsedContext",
            "worker.SlotPermit",
            "worker.SlotReleaseContext",
            "worker.SlotReserveContext",
            "worker.WorkerTuner",
            "worker.WorkflowSlotInfo",
        ],
        _TUNING,
    ),
    "worker.ReplayerConfig": "pass the Replayer's options as keyword arguments",
    **dict.fromkeys(
        [
            "worker.UnsandboxedWorkflowRunner",
            "worker.WorkflowInstance",
            "worker.WorkflowInstanceDetails",
            "worker.WorkflowRunner",
        ],
        "turnout chooses how workflow code runs on each executor",
    ),
    "worker.SharedHeartbeatSender": "the cross-process sender is internal to "
    "SharedStateManager.create_from_multiprocessing; custom managers are not accepted",
    **dict.fromkeys(
        [
            "worker.WorkerDeploymentConfig",
            "worker.WorkerDeploymentVersion",
            "worker.PatchActivationInput",
        ],
        _VERSIONING,
    ),
    "worker.Plugin": "plugins are not supported",
    "worker.WorkerConfig": "pass the worker's options as keyword arguments",
    # temporalio.common
    **dict.fromkeys(
        [
            "common.MetricCommon",
            "common.MetricCounter",
            "common.MetricGauge",
            "common.MetricGaugeFloat",
            "common.MetricHistogram",
            "common.MetricHistogramFloat",
            "common.MetricHistogramTimedelta",
            "common.MetricMeter",
        ],
        _METRICS,
    ),
    **dict.fromkeys(
        [
            "common.AutoUpgradeVersioningOverride",
            "common.OneTimeVersioningOverride",
            "common.PinnedVersioningOverride",
            "common.VersioningBehavior",
            "common.VersioningOverride",
            "common.WorkerDeploymentVersion",
        ],
        _VERSIONING,
    ),
    **dict.fromkeys(
        [
            "common.NexusOperationCancellationState",
            "common.NexusOperationExecutionStatus",
            "common.NexusOperationIDConflictPolicy",
            "common.NexusOperationIDReusePolicy",
            "common.PendingNexusOperationExecutionState",
        ],
        _NEXUS,
    ),
    **dict.fromkeys(
        ["common.ActivityIDConflictPolicy", "common.ActivityIDReusePolicy"], _STANDALONE
    ),
    "common.HeaderCodecBehavior": _CONNECTION,
    "common.Priority": "task priorities are not supported",
    "common.QueryRejectCondition": "queries are never rejected by the run's status",
    # temporalio.exceptions
    "exceptions.ActivityAlreadyStartedError": _STANDALONE,
    "exceptions.ApplicationErrorCategory": "ApplicationError takes no category",
    "exceptions.InvalidVersioningOverrideError": _VERSIONING,
    "exceptions.NexusOperationAlreadyStartedError": _NEXUS,
    "exceptions.NexusOperationError": _NEXUS,
    "exceptions.ServerError": "turnout raises TurnoutError subclasses that name the problem",
    # temporalio.testing
    **dict.fromkeys(
        [
            "testing.TimeSkipper",
            "testing.TimeSkippingConfig",
        ],
        _TESTING,
    ),
    # temporalio.contrib.pydantic
    **dict.fromkeys(
        [
            "contrib.pydantic.CompositePayloadConverter",
            "contrib.pydantic.DataConverter",
            "contrib.pydantic.DefaultPayloadConverter",
            "contrib.pydantic.EncodingPayloadConverter",
            "contrib.pydantic.JSONPlainPayloadConverter",
            "contrib.pydantic.PydanticJSONPlainPayloadConverter",
            "contrib.pydantic.PydanticPayloadConverter",
            "contrib.pydantic.ToJsonOptions",
        ],
        _CONVERTER,
    ),
}
"""Module-level temporalio names turnout lacks, each with the reason."""

MODULE_IGNORED: frozenset[str] = frozenset()
"""Module-level temporalio types users do not name; no parity is claimed for them."""
