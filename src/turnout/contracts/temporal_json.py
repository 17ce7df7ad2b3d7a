"""Values in the form of Temporal's protobuf JSON, as ``temporal workflow show --output
json`` prints them and temporalio's ``WorkflowHistory.from_json`` reads them: payloads
as temporalio's JSON converter writes them, durations, timestamps, failures and enum
names. Written without temporalio: turnout's JSON values are already what the converter
encodes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from turnout.contracts.errors import Failure

__all__ = [
    "duration",
    "failure",
    "payload",
    "payloads",
    "retry_policy",
    "retry_state",
    "search_attribute",
    "timestamp",
]

_JSON_PLAIN = base64.b64encode(b"json/plain").decode()
_BINARY_NULL = base64.b64encode(b"binary/null").decode()
_SECONDS = TypeAdapter(timedelta)


def payload(value: Any) -> dict[str, Any]:
    """One JSON value as temporalio's default converter writes it: ``None`` as
    ``binary/null``, anything else as compact ``json/plain`` with sorted keys."""
    if value is None:
        return {"metadata": {"encoding": _BINARY_NULL}}
    data = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    return {"metadata": {"encoding": _JSON_PLAIN}, "data": base64.b64encode(data).decode()}


def payloads(values: Iterable[Any]) -> dict[str, Any]:
    """A ``Payloads`` message: one payload per value."""
    return {"payloads": [payload(value) for value in values]}


def search_attribute(entry: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored search attribute (``{"type", "value"}``) as Temporal's indexed field: the
    value's payload with its type (``Keyword``, ``Int``, ...) in the metadata; a removed
    one (None) as the null payload."""
    if entry is None:
        return payload(None)
    encoded = payload(entry.get("value"))
    encoded["metadata"]["type"] = base64.b64encode(str(entry["type"]).encode()).decode()
    return encoded


def duration(value: Any) -> str:
    """A duration (seconds, an ISO 8601 text or a timedelta; None is zero) as protobuf's
    JSON ``Duration``: seconds with 0, 3, 6 or 9 decimals and an ``s``."""
    seconds = 0.0 if value is None else _SECONDS.validate_python(value).total_seconds()
    whole, nanos = divmod(round(seconds * 1_000_000_000), 1_000_000_000)
    if nanos == 0:
        return f"{whole}s"
    if nanos % 1_000_000 == 0:
        return f"{whole}.{nanos // 1_000_000:03d}s"
    if nanos % 1_000 == 0:
        return f"{whole}.{nanos // 1_000:06d}s"
    return f"{whole}.{nanos:09d}s"


def timestamp(at: datetime) -> str:
    """A time as protobuf's JSON ``Timestamp``: UTC, ``Z``, 0, 3 or 6 decimals."""
    utc = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    micros = utc.microsecond
    if micros == 0:
        return f"{text}Z"
    if micros % 1000 == 0:
        return f"{text}.{micros // 1000:03d}Z"
    return f"{text}.{micros:06d}Z"


def retry_state(value: Any) -> str:
    """turnout's retry state (``maximum_attempts_reached``) as Temporal's enum name."""
    return f"RETRY_STATE_{str(value or 'unspecified').upper()}"


def retry_policy(policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored ``RetryPolicy`` as Temporal's; fields at their default are left out, as
    protobuf's JSON leaves them out."""
    if not policy:
        return {}
    out: dict[str, Any] = {}
    if policy.get("initial_interval") is not None:
        out["initialInterval"] = duration(policy["initial_interval"])
    if policy.get("backoff_coefficient") is not None:
        out["backoffCoefficient"] = float(policy["backoff_coefficient"])
    if policy.get("maximum_interval") is not None:
        out["maximumInterval"] = duration(policy["maximum_interval"])
    if policy.get("maximum_attempts"):
        out["maximumAttempts"] = int(policy["maximum_attempts"])
    if policy.get("non_retryable_error_types"):
        out["nonRetryableErrorTypes"] = list(policy["non_retryable_error_types"])
    return out


def failure(record: Mapping[str, Any] | Failure) -> dict[str, Any]:
    """A turnout :class:`Failure` (or its JSON) as Temporal's ``Failure``: the message,
    the stack trace, the info of its kind and its causes, nested."""
    f = record if isinstance(record, Failure) else Failure.model_validate(record)
    out: dict[str, Any] = {"message": f.message}
    if f.stack_trace:
        out["stackTrace"] = f.stack_trace
    if f.cause is not None:
        out["cause"] = failure(f.cause)
    key, info = _failure_info(f)
    out[key] = info
    return out


def _failure_info(f: Failure) -> tuple[str, dict[str, Any]]:
    attrs = f.attributes
    details = {"details": payloads(f.details)} if f.details else {}
    match f.kind:
        case "timeout":
            timeout_type = f"TIMEOUT_TYPE_{(f.type or 'start_to_close').upper()}"
            beats = {"lastHeartbeatDetails": payloads(f.details)} if f.details else {}
            return "timeoutFailureInfo", {"timeoutType": timeout_type, **beats}
        case "canceled":
            return "canceledFailureInfo", details
        case "terminated":
            return "terminatedFailureInfo", {}
        case "server":
            return "serverFailureInfo", _true("nonRetryable", f.non_retryable)
        case "activity":
            return "activityFailureInfo", {
                "activityType": {"name": str(attrs.get("activity_type") or "")},
                "activityId": str(attrs.get("activity_id") or ""),
                "retryState": retry_state(attrs.get("retry_state")),
            }
        case "child_workflow":
            execution = {"workflowId": str(attrs.get("workflow_id") or "")}
            if attrs.get("run_id"):
                execution["runId"] = str(attrs["run_id"])
            return "childWorkflowExecutionFailureInfo", {
                "workflowExecution": execution,
                "workflowType": {"name": str(attrs.get("workflow_type") or "")},
                "retryState": retry_state(attrs.get("retry_state")),
            }
    info: dict[str, Any] = {"type": f.type} if f.type else {}
    return "applicationFailureInfo", info | _true("nonRetryable", f.non_retryable) | details


def _true(key: str, flag: bool) -> dict[str, Any]:
    return {key: True} if flag else {}
