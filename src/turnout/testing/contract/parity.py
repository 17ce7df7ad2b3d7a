"""turnout's classification of temporalio's API, as data: what it supports, what it
leaves out and why, and the details of the supported calls.

:mod:`turnout.testing.contract.test_parity` checks it against temporalio and against
turnout's executors; ``docs/compatibility.md`` explains the differences.

Names are written as temporalio spells them, prefixed by where they live:
``workflow.X`` / ``workflow.unsafe.X`` (``temporalio.workflow`` and
``turnout.workflow``), ``activity.X`` (``temporalio.activity`` and
``turnout.activity``), ``Client.X`` (``temporalio.client.Client``; turnout's
``InternalClient`` and ``TemporalClient``) and ``WorkflowHandle.X``
(``temporalio.client.WorkflowHandle``; ``InternalWorkflowHandle`` and
``TemporalWorkflowHandle``).

Only plain data: importing this module needs neither temporalio nor an executor.
"""

from __future__ import annotations

from turnout.testing.contract.parity_modules import (
    MODULE_IGNORED,
    MODULE_SUPPORTED,
    MODULE_UNSUPPORTED,
)

__all__ = [
    "FORWARDED",
    "IGNORED",
    "KEYWORDS",
    "KIND_DIFFERENCES",
    "POSITIONAL_DIFFERENCES",
    "SUPPORTED",
    "TURNOUT_ONLY",
    "UNSUPPORTED",
]

SUPPORTED: tuple[str, ...] = (
    # temporalio.workflow -> turnout.workflow
    "workflow.defn",
    "workflow.init",
    "workflow.run",
    "workflow.signal",
    "workflow.query",
    "workflow.update",
    "workflow.UpdateInfo",
    "workflow.current_update_info",
    "workflow.memo",
    "workflow.memo_value",
    "workflow.upsert_memo",
    "workflow.upsert_search_attributes",
    "workflow.ParentClosePolicy",
    "workflow.ActivityCancellationType",
    "workflow.set_signal_handler",
    "workflow.get_signal_handler",
    "workflow.set_query_handler",
    "workflow.get_query_handler",
    "workflow.set_update_handler",
    "workflow.get_update_handler",
    "workflow.set_dynamic_signal_handler",
    "workflow.get_dynamic_signal_handler",
    "workflow.set_dynamic_query_handler",
    "workflow.get_dynamic_query_handler",
    "workflow.set_dynamic_update_handler",
    "workflow.get_dynamic_update_handler",
    "workflow.payload_converter",
    "workflow.execute_activity",
    "workflow.start_activity",
    "workflow.execute_activity_method",
    "workflow.start_activity_method",
    "workflow.execute_activity_class",
    "workflow.start_activity_class",
    "workflow.execute_local_activity",
    "workflow.start_local_activity",
    "workflow.execute_local_activity_method",
    "workflow.start_local_activity_method",
    "workflow.execute_local_activity_class",
    "workflow.start_local_activity_class",
    "workflow.execute_child_workflow",
    "workflow.start_child_workflow",
    "workflow.get_external_workflow_handle",
    "workflow.get_external_workflow_handle_for",
    "workflow.ExternalWorkflowHandle",
    "workflow.continue_as_new",
    "workflow.sleep",
    "workflow.wait_condition",
    "workflow.wait",
    "workflow.as_completed",
    "workflow.all_handlers_finished",
    "workflow.now",
    "workflow.uuid4",
    "workflow.random",
    "workflow.info",
    "workflow.in_workflow",
    "workflow.patched",
    "workflow.deprecate_patch",
    "workflow.logger",
    "workflow.Info",
    "workflow.ParentInfo",
    "workflow.unsafe",
    "workflow.unsafe.imports_passed_through",
    "workflow.unsafe.is_replaying",
    "workflow.unsafe.sandbox_unrestricted",
    "workflow.unsafe.is_sandbox_unrestricted",
    "workflow.unsafe.is_imports_passed_through",
    "workflow.unsafe.in_sandbox",
    "workflow.unsafe.is_read_only",
    # temporalio.activity -> turnout.activity
    "activity.defn",
    "activity.heartbeat",
    "activity.info",
    "activity.is_cancelled",
    "activity.wait_for_cancelled",
    "activity.wait_for_cancelled_sync",
    "activity.client",
    "activity.in_activity",
    "activity.logger",
    "activity.payload_converter",
    "activity.raise_complete_async",
    "activity.Info",
    # temporalio.client.Client -> InternalClient, TemporalClient
    "Client.start_workflow",
    "Client.execute_workflow",
    "Client.get_workflow_handle",
    "Client.list_workflows",
    "Client.count_workflows",
    "Client.create_schedule",
    "Client.get_schedule_handle",
    "Client.list_schedules",
    "Client.get_async_activity_handle",
    # temporalio.client.WorkflowHandle -> InternalWorkflowHandle, TemporalWorkflowHandle
    "WorkflowHandle.id",
    "WorkflowHandle.run_id",
    "WorkflowHandle.result",
    "WorkflowHandle.fetch_history",
    "WorkflowHandle.signal",
    "WorkflowHandle.query",
    "WorkflowHandle.cancel",
    "WorkflowHandle.terminate",
    "WorkflowHandle.describe",
    "WorkflowHandle.first_execution_run_id",
    "WorkflowHandle.result_run_id",
    "WorkflowHandle.execute_update",
    "WorkflowHandle.start_update",
    "WorkflowHandle.get_update_handle",
    "WorkflowHandle.get_update_handle_for",
    "Client.connect",
    "Client.get_workflow_handle_for",
    "Client.execute_update_with_start_workflow",
    "Client.start_update_with_start_workflow",
    # module-level names: temporalio.client, .worker, .common, .exceptions, ...
    *MODULE_SUPPORTED,
)
"""temporalio names turnout offers under the same name."""

TURNOUT_ONLY: tuple[str, ...] = (
    "Client.close",
    "Client.list_pending_approvals",
    "WorkflowHandle.events",
    "WorkflowHandle.approve",
    "WorkflowHandle.reject",
    "WorkflowHandle.approvals",
    "WorkflowHandle.policy_decisions",
    "WorkflowHandle.artifacts",
)
"""turnout's own additions that every executor's client and handle must have."""

_NEXUS = "Nexus is not supported"
_DYNAMIC = (
    "no dynamic_config: a dynamic workflow's options are those of its @workflow.defn and "
    "the worker's"
)
_SANDBOX = "sandbox tuning and introspection are Temporal-only; turnout configures the sandbox"
_VERSIONING = "worker versioning is Temporal-only; use workflow.patched"
_SCHEDULES = "a scheduled run's last completion result and failure are not offered yet"
_STANDALONE = "activities run only inside workflows"
_CONNECTION = "connection details come from turnout's settings (TemporalClient.raw is temporalio's)"

UNSUPPORTED: dict[str, str] = {
    # temporalio.workflow
    "workflow.UnfinishedUpdateHandlersWarning": "no unfinished_policy option on update "
    "handlers: wait on workflow.all_handlers_finished()",
    "workflow.LocalActivityConfig": "pass local activity options as keyword arguments",
    **dict.fromkeys(
        [
            "workflow.create_nexus_client",
            "workflow.NexusClient",
            "workflow.NexusOperationHandle",
            "workflow.NexusOperationCancellationType",
            "workflow.signal_with_start_workflow",
        ],
        _NEXUS,
    ),
    **dict.fromkeys(
        [
            "workflow.DynamicWorkflowConfig",
            "workflow.dynamic_config",
        ],
        _DYNAMIC,
    ),
    **dict.fromkeys(
        ["workflow.VersioningIntent", "workflow.ContinueAsNewVersioningBehavior"], _VERSIONING
    ),
    **dict.fromkeys(
        [
            "workflow.get_last_completion_result",
            "workflow.has_last_completion_result",
            "workflow.get_last_failure",
        ],
        _SCHEDULES,
    ),
    **dict.fromkeys(
        ["workflow.SandboxImportNotificationPolicy", "workflow.extern_functions"], _SANDBOX
    ),
    **dict.fromkeys(
        ["workflow.EventGroup", "workflow.create_event_group"],
        "event groups (grouping commands for the UI) are not supported",
    ),
    **dict.fromkeys(
        ["workflow.get_current_details", "workflow.set_current_details"],
        "current details are shown by Temporal's UI only",
    ),
    **dict.fromkeys(
        ["workflow.new_random", "workflow.random_seed", "workflow.register_random_seed_callback"],
        "workflow.random() is the one deterministic generator",
    ),
    **dict.fromkeys(["workflow.time", "workflow.time_ns"], "use workflow.now()"),
    "workflow.uuid7": "use workflow.uuid4()",
    "workflow.ActivityConfig": "pass activity options as keyword arguments",
    "workflow.ChildWorkflowConfig": "pass child workflow options as keyword arguments",
    "workflow.ChildWorkflowCancellationType": "no cancellation_type option for children",
    "workflow.HandlerUnfinishedPolicy": "no unfinished_policy option on signal handlers",
    "workflow.UnfinishedSignalHandlersWarning": "no unfinished_policy option on signal handlers",
    "workflow.RootInfo": "workflow.info() has the parent, not the root",
    "workflow.instance": "the workflow object is self",
    "workflow.cancellation_reason": "cancel requests carry no reason",
    "workflow.is_failure_exception": "no failure_exception_types option on workflow.defn",
    "workflow.metric_meter": "metrics are not part of the authoring API",
    "workflow.NondeterminismError": "turnout reports it as turnout.NonDeterminismError",
    "workflow.ReadOnlyContextError": "a query handler that schedules work fails the query",
    # temporalio.workflow.unsafe
    **dict.fromkeys(
        [
            "workflow.unsafe.current_import_notification_policy_override",
            "workflow.unsafe.sandbox_import_notification_policy",
        ],
        _SANDBOX,
    ),
    "workflow.unsafe.is_replaying_history_events": "use workflow.unsafe.is_replaying()",
    # temporalio.activity
    **dict.fromkeys(
        ["activity.cancellation_details", "activity.ActivityCancellationDetails"],
        "cancellation carries no details: check activity.is_cancelled()",
    ),
    **dict.fromkeys(
        [
            "activity.is_worker_shutdown",
            "activity.wait_for_worker_shutdown",
            "activity.wait_for_worker_shutdown_sync",
        ],
        "shutdown gives activities a grace period, then cancels them",
    ),
    "activity.shield_thread_cancel_exception": "sync activities check activity.is_cancelled()",
    "activity.metric_meter": "metrics are not part of the authoring API",
    # temporalio.client.Client
    **dict.fromkeys(
        [
            "Client.api_key",
            "Client.config",
            "Client.data_converter",
            "Client.identity",
            "Client.namespace",
            "Client.rpc_metadata",
            "Client.service_client",
            "Client.workflow_service",
            "Client.operator_service",
            "Client.test_service",
        ],
        _CONNECTION,
    ),
    **dict.fromkeys(
        [
            "Client.count_nexus_operations",
            "Client.create_nexus_client",
            "Client.get_nexus_operation_handle",
            "Client.list_nexus_operations",
        ],
        _NEXUS,
    ),
    **dict.fromkeys(
        [
            "Client.count_activities",
            "Client.execute_activity",
            "Client.execute_activity_class",
            "Client.execute_activity_method",
            "Client.get_activity_handle",
            "Client.list_activities",
            "Client.start_activity",
            "Client.start_activity_class",
            "Client.start_activity_method",
        ],
        _STANDALONE,
    ),
    **dict.fromkeys(
        [
            "Client.get_worker_build_id_compatibility",
            "Client.get_worker_task_reachability",
            "Client.update_worker_build_id_compatibility",
        ],
        _VERSIONING,
    ),
    # temporalio.client.WorkflowHandle
    "WorkflowHandle.fetch_history_events": "fetch_history() returns the whole history; "
    "handle.events() the executor-independent timeline",
    **MODULE_UNSUPPORTED,
}
"""temporalio names turnout deliberately lacks, each with the reason."""

IGNORED: frozenset[str] = MODULE_IGNORED | frozenset(
    {
        # Types of values turnout hands out; workflow code does not construct them.
        "workflow.ActivityHandle",
        "workflow.ChildWorkflowHandle",
        "workflow.LoggerAdapter",
        "workflow.UpdateMethodMultiParam",
        "workflow.ContinueAsNewError",
        "activity.LoggerAdapter",
    }
)
"""Public temporalio types users do not call directly; no parity is claimed for them."""

_ACTIVITY_OPTIONS = (
    "args",
    "task_queue",
    "schedule_to_close_timeout",
    "schedule_to_start_timeout",
    "start_to_close_timeout",
    "heartbeat_timeout",
    "retry_policy",
    "activity_id",
    "result_type",
    "cancellation_type",
)
_CHILD_OPTIONS = (
    "args",
    "id",
    "task_queue",
    "execution_timeout",
    "task_timeout",
    "retry_policy",
    "result_type",
    "id_reuse_policy",
    "parent_close_policy",
    "memo",
    "search_attributes",
)
_START_OPTIONS = (
    "args",
    "id",
    "task_queue",
    "id_reuse_policy",
    "id_conflict_policy",
    "execution_timeout",
    "run_timeout",
    "task_timeout",
    "retry_policy",
    "start_signal",
    "start_signal_args",
    "memo",
    "search_attributes",
    "cron_schedule",
)

KEYWORDS: dict[str, tuple[str, ...]] = {
    "workflow.defn": ("name", "sandboxed", "dynamic", "failure_exception_types"),
    "workflow.signal": ("name", "dynamic"),
    "workflow.update": ("name", "dynamic"),
    "workflow.query": ("name", "dynamic"),
    "workflow.set_update_handler": ("validator",),
    "workflow.set_dynamic_update_handler": ("validator",),
    "workflow.execute_activity": _ACTIVITY_OPTIONS,
    "workflow.start_activity": _ACTIVITY_OPTIONS,
    "workflow.execute_child_workflow": _CHILD_OPTIONS,
    "workflow.start_child_workflow": _CHILD_OPTIONS,
    "workflow.get_external_workflow_handle": ("run_id",),
    "workflow.get_external_workflow_handle_for": ("run_id",),
    "workflow.continue_as_new": ("args", "workflow"),
    "workflow.wait_condition": ("timeout",),
    "workflow.wait": ("timeout", "return_when"),
    "workflow.as_completed": ("timeout",),
    "activity.defn": ("name", "dynamic"),
    "Client.start_workflow": _START_OPTIONS,
    "Client.execute_workflow": _START_OPTIONS,
    "Client.connect": ("namespace", "data_converter"),
    "Client.get_workflow_handle": ("run_id", "first_execution_run_id", "result_type"),
    "Client.list_workflows": ("query", "limit", "page_size"),
    "Client.count_workflows": ("query",),
    "Client.get_async_activity_handle": ("workflow_id", "run_id", "activity_id", "task_token"),
    "WorkflowHandle.result": ("follow_runs",),
    "WorkflowHandle.signal": ("args",),
    "WorkflowHandle.execute_update": ("args", "id", "result_type"),
    "WorkflowHandle.start_update": ("args", "id", "wait_for_stage", "result_type"),
    "WorkflowHandle.get_update_handle": ("workflow_run_id", "result_type"),
    "WorkflowHandle.query": ("args", "result_type", "rpc_timeout"),
    "WorkflowHandle.terminate": ("reason",),
    "testing.ActivityEnvironment": ("client",),
    "testing.WorkflowEnvironment": ("client",),
}
"""Keyword arguments of the key calls that must mean the same on temporalio and turnout."""

FORWARDED: dict[str, str] = {
    "Client.execute_workflow": "Client.start_workflow",
}
"""Calls that may take ``**options`` and pass them on; their keywords are checked there."""

KIND_DIFFERENCES: dict[str, str] = {}
"""Supported calls that are awaited differently on purpose."""

POSITIONAL_DIFFERENCES: dict[str, str] = {
    "workflow.patched": "the parameter is patch_id (temporalio: id); positional calls match",
    "workflow.deprecate_patch": "the parameter is patch_id (temporalio: id); positional calls "
    "match",
    "Client.count_workflows": "turnout takes only the query; RPC metadata and timeouts "
    "come from the connection's settings",
    "WorkflowHandle.terminate": "turnout takes only reason; temporalio takes details "
    "positionally and reason by keyword",
}
"""Supported calls whose positional parameters differ on purpose."""
