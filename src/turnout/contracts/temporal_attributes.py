"""The attributes of the Temporal history events an internal history is exported as, built
from one turnout event each. Pure functions: ``history_export`` numbers the events and
adds the references between them (``scheduledEventId``, ``workflowTaskCompletedEventId``,
...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from turnout.contracts.events import Event
from turnout.contracts.temporal_json import (
    duration,
    failure,
    payload,
    payloads,
    retry_policy,
    retry_state,
    search_attribute,
    timestamp,
)

__all__ = [
    "LOCAL_ACTIVITY_MARKER",
    "NO_RETRY_POLICY",
    "PATCH_MARKER",
    "WORKFLOW_TASK_TIMEOUT",
    "activity_scheduled",
    "child_initiated",
    "continued_as_new",
    "execution",
    "external_cause",
    "marker",
    "outcome_failure",
    "outcome_retry_state",
    "task_queue",
    "workflow_started",
    "workflow_task_failure",
]

WORKFLOW_TASK_TIMEOUT = "10s"
"""The workflow task timeout Temporal records by default (turnout has none of its own)."""
PATCH_MARKER = "core_patch"
LOCAL_ACTIVITY_MARKER = "core_local_activity"
NO_RETRY_POLICY = retry_state("retry_policy_not_set")


def task_queue(name: Any) -> dict[str, Any]:
    """A ``TaskQueue`` of the normal kind."""
    return {"name": str(name or ""), "kind": "TASK_QUEUE_KIND_NORMAL"}


def execution(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The ``WorkflowExecution`` an event names: its workflow id and, when known, run id."""
    out = {"workflowId": str(attrs.get("workflow_id") or "")}
    if attrs.get("run_id"):
        out["runId"] = str(attrs["run_id"])
    return out


def _with_input(out: dict[str, Any], attrs: Mapping[str, Any], key: str = "input") -> None:
    if attrs.get(key):
        out["input"] = payloads(attrs[key])


def workflow_started(event: Event) -> dict[str, Any]:
    """``WorkflowExecutionStarted``: type, queue, input, ids, parent, memo, attributes."""
    attrs = event.attributes
    out: dict[str, Any] = {
        "workflowType": {"name": str(attrs.get("workflow_type") or "")},
        "taskQueue": task_queue(attrs.get("task_queue")),
        "workflowTaskTimeout": WORKFLOW_TASK_TIMEOUT,
        "originalExecutionRunId": event.run_id,
        "attempt": int(attrs.get("attempt") or 1),
        "workflowId": event.workflow_id,
    }
    _with_input(out, attrs)
    if attrs.get("continued_from_run_id"):
        out["continuedExecutionRunId"] = str(attrs["continued_from_run_id"])
        out["initiator"] = "CONTINUE_AS_NEW_INITIATOR_WORKFLOW"
    else:
        out["firstExecutionRunId"] = event.run_id
    if attrs.get("parent_workflow_id"):
        parent = {"workflow_id": attrs["parent_workflow_id"], "run_id": attrs.get("parent_run_id")}
        out["parentWorkflowExecution"] = execution(parent)
    if attrs.get("memo"):
        out["memo"] = {"fields": {k: payload(v) for k, v in attrs["memo"].items()}}
    if attrs.get("search_attributes"):
        fields = {k: search_attribute(v) for k, v in attrs["search_attributes"].items()}
        out["searchAttributes"] = {"indexedFields": fields}
    return out


def workflow_task_failure(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """A failed workflow task's cause (non-determinism, or an unhandled failure) and failure."""
    record = attrs.get("failure") or {"kind": "application", "message": ""}
    nondeterministic = record.get("type") == "NonDeterminismError"
    cause = "NON_DETERMINISTIC_ERROR" if nondeterministic else "WORKFLOW_WORKER_UNHANDLED_FAILURE"
    return {"cause": f"WORKFLOW_TASK_FAILED_CAUSE_{cause}", "failure": failure(record)}


def continued_as_new(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``WorkflowExecutionContinuedAsNew``: the new run's type, queue and input."""
    out: dict[str, Any] = {
        "workflowType": {"name": str(attrs.get("workflow_type") or "")},
        "taskQueue": task_queue(attrs.get("task_queue")),
        "initiator": "CONTINUE_AS_NEW_INITIATOR_WORKFLOW",
    }
    _with_input(out, attrs)
    return out


def activity_scheduled(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``ActivityTaskScheduled``: id, type, queue, input, timeouts (``0s`` when unset, as
    Temporal shows them) and retry policy."""
    out: dict[str, Any] = {
        "activityId": str(attrs.get("activity_id") or attrs.get("activity_seq")),
        "activityType": {"name": str(attrs.get("activity_type") or "")},
        "taskQueue": task_queue(attrs.get("task_queue")),
        "scheduleToCloseTimeout": duration(attrs.get("schedule_to_close_timeout")),
        "scheduleToStartTimeout": duration(None),
        "startToCloseTimeout": duration(attrs.get("start_to_close_timeout")),
        "heartbeatTimeout": duration(attrs.get("heartbeat_timeout")),
    }
    _with_input(out, attrs)
    policy = retry_policy(attrs.get("retry_policy"))
    if policy:
        out["retryPolicy"] = policy
    return out


def child_initiated(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``StartChildWorkflowExecutionInitiated``: the child's id, type, queue, input,
    timeout and policies."""
    out: dict[str, Any] = {
        "workflowId": str(attrs.get("workflow_id") or ""),
        "workflowType": {"name": str(attrs.get("workflow_type") or "")},
        "taskQueue": task_queue(attrs.get("task_queue")),
    }
    _with_input(out, attrs)
    if attrs.get("execution_timeout"):
        out["workflowExecutionTimeout"] = duration(attrs["execution_timeout"])
    if attrs.get("parent_close_policy"):
        policy = str(attrs["parent_close_policy"]).upper()
        out["parentClosePolicy"] = f"PARENT_CLOSE_POLICY_{policy}"
    if attrs.get("id_reuse_policy"):
        policy = str(attrs["id_reuse_policy"]).upper()
        out["workflowIdReusePolicy"] = f"WORKFLOW_ID_REUSE_POLICY_{policy}"
    return out


def outcome_failure(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The ``failure`` of an activity's or a child's outcome: Temporal's event holds the
    error under turnout's activity or child failure, not that wrapper."""
    record = attrs.get("failure")
    if not isinstance(record, Mapping):
        return {}
    cause = record.get("cause")
    if record.get("kind") in ("activity", "child_workflow") and isinstance(cause, Mapping):
        return {"failure": failure(cause)}
    return {"failure": failure(record)}


def outcome_retry_state(attrs: Mapping[str, Any]) -> str:
    """The retry state an activity's or a child's failure records."""
    record = attrs.get("failure") or {}
    state = (record.get("attributes") or {}).get("retry_state")
    return retry_state(state) if state else NO_RETRY_POLICY


def external_cause(kind: str, attrs: Mapping[str, Any]) -> str:
    """turnout's cause (``external_workflow_not_found``) as Temporal's enum name."""
    cause = str(attrs.get("cause") or "external_workflow_not_found").upper()
    cause = cause.replace("EXTERNAL_WORKFLOW_", "EXTERNAL_WORKFLOW_EXECUTION_")
    return f"{kind}_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_{cause}"


def marker(event: Event) -> dict[str, Any]:
    """``MarkerRecorded``: a patch marker or a local activity's, with the details
    temporalio writes (which the Temporal executor's mapping reads back)."""
    attrs = event.attributes
    kind = attrs.get("marker")
    if kind == "patch":
        data = {"id": attrs.get("patch_id"), "deprecated": False}
        return {"markerName": PATCH_MARKER, "details": {"patch-data": payloads([data])}}
    if kind != "local_activity":
        return {"markerName": str(kind or "")}
    data = {
        "seq": attrs.get("local_seq"),
        "attempt": attrs.get("attempt"),
        "activity_id": attrs.get("activity_id"),
        "activity_type": attrs.get("activity_type"),
        "complete_time": timestamp(event.at),
    }
    details = {"data": payloads([data])}
    if attrs.get("failure"):
        return {"markerName": LOCAL_ACTIVITY_MARKER, "details": details} | outcome_failure(attrs)
    details["result"] = payloads([attrs.get("result")])
    return {"markerName": LOCAL_ACTIVITY_MARKER, "details": details}
