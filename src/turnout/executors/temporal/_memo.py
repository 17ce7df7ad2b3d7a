"""The user's memo on Temporal: what turnout keeps in the memo for itself (correlation
id, approvals) is left out of what the user sees, and the memo of a history's events is
read back as JSON values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from temporalio.api.common.v1 import Memo, Payload
from temporalio.api.history.v1 import HistoryEvent

from turnout.contracts.memo import RESERVED_PREFIX
from turnout.executors.temporal._governance import APPROVALS_MEMO

__all__ = ["approvals_change", "json_value", "started_memo", "upserted_memo"]


def json_value(payload: Payload) -> Any:
    """A payload's value (the pydantic converter writes JSON); None when it is not JSON
    (a removal in a memo upsert is a null payload)."""
    try:
        return json.loads(payload.data)
    except (ValueError, UnicodeDecodeError):
        return None


def _user_fields(fields: Mapping[str, Payload]) -> dict[str, Any]:
    return {k: json_value(p) for k, p in fields.items() if not k.startswith(RESERVED_PREFIX)}


def started_memo(memo: Memo) -> dict[str, Any]:
    """The ``memo`` attribute of a mapped ``workflow_started`` (nothing when the user
    gave none)."""
    user = _user_fields(memo.fields)
    return {"memo": user} if user else {}


def upserted_memo(event: HistoryEvent) -> dict[str, Any] | None:
    """The user's part of a ``WorkflowPropertiesModified`` memo upsert (None when it
    changed only turnout's own keys)."""
    user = _user_fields(event.workflow_properties_modified_event_attributes.upserted_memo.fields)
    return user or None


def approvals_change(event: HistoryEvent) -> dict[str, Any] | None:
    """What a memo upsert of the run's approvals means (its ``event``), if it is one."""
    fields = event.workflow_properties_modified_event_attributes.upserted_memo.fields
    if APPROVALS_MEMO not in fields:
        return None
    memo = json_value(fields[APPROVALS_MEMO])
    change = memo.get("event") if isinstance(memo, dict) else None
    return change if isinstance(change, dict) and isinstance(change.get("type"), str) else None
