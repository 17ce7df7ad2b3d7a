"""Row mappers: table rows read into typed records, records written as rows.

The only place a SQLAlchemy ``Row`` turns into what the rest of turnout sees.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from turnout.contracts.errors import Failure
from turnout.contracts.events import Event, EventType
from turnout.contracts.records import PolicyDecision, QueueItemKind, QueueItemState, Run
from turnout.contracts.states import RunState
from turnout.executors.internal.store.records import ClaimedItem, EventSpec, RunInfo, RunSnapshot

_log = logging.getLogger("turnout.store")

__all__ = [
    "activity_attrs",
    "child_kind",
    "claimed_item",
    "decision_row",
    "event_from_row",
    "event_rows",
    "new_item_row",
    "retry_state",
    "run_from_row",
    "run_snapshot",
    "with_histories",
]


def run_snapshot(row: Row[Any]) -> RunSnapshot:
    """The snapshot of a row read with :data:`~turnout.executors.internal.store.sql.RUN_COLUMNS`."""
    return RunSnapshot._make(row)


def claimed_item(row: Row[Any]) -> ClaimedItem:
    """The record of a leased ``turnout_queue_items`` row."""
    return ClaimedItem(
        id=row.id,
        kind=row.kind,
        run_id=row.run_id,
        workflow_id=row.workflow_id,
        tenant_id=row.tenant_id,
        task_queue=row.task_queue,
        name=row.name,
        ref=row.ref,
        payload=dict(row.payload or {}),
        attempt=row.attempt,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        started_at=row.started_at,
        deadline_at=row.deadline_at,
        heartbeat_details=row.heartbeat_details,
        created_at=row.created_at,
        heartbeat_at=row.heartbeat_at,
    )


_set = object.__setattr__
_RUN_GIVEN = frozenset(Run.model_fields) - {
    "pending_activities",
    "pending_children",
    "pending_signals",
    "pending_updates",
    "stuck_reason",
}
_EVENT_FIELDS = frozenset(Event.model_fields)


def _built(model: Any, values: dict[str, Any], given: frozenset[str], private: Any) -> Any:
    """What ``type(model).model_construct(**values)`` makes, from ``values`` holding
    every field (``given``: those it was passed), without its per-call look at the
    model's fields: built without validation, the store wrote every value, checked,
    and reads it back. ``model`` is a bare instance (``cls.__new__(cls)``)."""
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", set(given))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", private)
    return model


def run_from_row(row: Row[Any]) -> Run:
    """The contract record of a ``turnout_runs`` row (built without validation)."""
    failure = Failure.model_validate(row.failure) if row.failure else None
    values = {
        "workflow_id": row.workflow_id,
        "run_id": row.run_id,
        "workflow_type": row.workflow_type,
        "task_queue": row.task_queue,
        "tenant_id": row.tenant_id,
        "correlation_id": row.correlation_id,
        "state": RunState(row.state),
        "attempt": row.attempt,
        "requested_at": row.requested_at,
        "started_at": row.started_at,
        "closed_at": row.closed_at,
        "result": row.result if row.state == RunState.COMPLETED.value else None,
        "failure": failure,
        "parent_workflow_id": row.parent_workflow_id,
        "parent_run_id": row.parent_run_id,
        "continued_from_run_id": row.continued_from_run_id,
        "memo_values": row.memo or {},
        "search_attribute_values": row.search_attributes or {},
        "pending_activities": [],
        "pending_children": [],
        "pending_signals": [],
        "pending_updates": [],
        "stuck_reason": None,
    }
    private = {
        "_cron_schedule": (row.options or {}).get("cron_schedule"),
        "_chain": row.task_id,
    }
    run: Run = _built(Run.__new__(Run), values, _RUN_GIVEN, private)
    return run


def cron_schedule_of(run: Run) -> str | None:
    """The cron schedule a run of ``run_from_row`` was started with (None: not cron)."""
    return run._cron_schedule


def same_chain(a: Run, b: Run) -> bool:
    """Whether two runs of ``run_from_row`` belong to one chain: a start and the runs
    continue-as-new, retries and cron made after it."""
    return a._chain is not None and a._chain == b._chain


def event_from_row(r: Row[Any]) -> Event:
    """The contract record of a ``turnout_events`` row (built without validation, as
    :func:`run_from_row`)."""
    values = {
        "run_id": r.run_id,
        "workflow_id": r.workflow_id,
        "seq": r.seq,
        "type": EventType(r.type),
        "at": r.at,
        "correlation_id": r.correlation_id,
        "tenant_id": r.tenant_id,
        "attributes": r.attributes,
    }
    event: Event = _built(Event.__new__(Event), values, _EVENT_FIELDS, None)
    return event


def event_rows(
    info: RunInfo, first: int, specs: Sequence[EventSpec], now: datetime
) -> list[dict[str, Any]]:
    """The ``turnout_events`` rows of ``specs`` appended to a run from seq ``first``."""
    return [
        {
            "run_id": info.run_id,
            "seq": first + i,
            "tenant_id": info.tenant_id,
            "workflow_id": info.workflow_id,
            "type": etype.value,
            "at": now,
            "correlation_id": info.correlation_id,
            "attributes": attrs,
        }
        for i, (etype, attrs) in enumerate(specs)
    ]


def new_item_row(
    run: RunSnapshot,
    kind: str,
    task_queue: str,
    name: str | None,
    ref: str,
    now: datetime,
    *,
    payload: dict[str, Any],
    available_at: datetime | None = None,
    deadline_at: datetime | None = None,
) -> dict[str, Any]:
    """The ``turnout_queue_items`` row of a new queued item of ``run``."""
    return {
        "kind": kind,
        "state": QueueItemState.QUEUED.value,
        "tenant_id": run.tenant_id,
        "task_queue": task_queue,
        "run_id": run.run_id,
        "workflow_id": run.workflow_id,
        "name": name,
        "ref": ref,
        "payload": payload,
        "priority": 0,
        "attempt": 1,
        "available_at": available_at or now,
        "deadline_at": deadline_at,
        "lease_owner": None,
        "lease_expires_at": None,
        "started_at": None,
        "idempotency_key": None,
        "created_at": now,
        "updated_at": now,
    }


def decision_row(d: PolicyDecision) -> dict[str, Any]:
    """The ``turnout_policy_decisions`` row of a decision."""
    return {
        "decision_id": d.decision_id,
        "run_id": d.run_id,
        "workflow_id": d.workflow_id,
        "tenant_id": d.tenant_id,
        "name": d.name,
        "outcome": d.outcome.value,
        "decided_by": d.decided_by,
        "reason": d.reason,
        "decided_at": d.decided_at,
        "attributes": d.attributes,
    }


def activity_attrs(item: ClaimedItem, **extra: Any) -> dict[str, Any]:
    """The attributes every event about an activity attempt carries, and ``extra``."""
    return {
        "activity_seq": int(item.ref or 0),
        "activity_id": item.activity.activity_id,
        "activity_type": item.name,
        "attempt": item.attempt,
        **extra,
    }


def retry_state(failure: Failure, dead: bool) -> str:
    """The ``retry_state`` of an activity's final failure."""
    if failure.kind == "timeout":
        return "timeout"
    return "maximum_attempts_reached" if dead else "non_retryable_failure"


def child_kind(state: RunState) -> str:
    """The failure kind a parent sees for a child run that closed in ``state``."""
    return {
        RunState.CANCELED: "canceled",
        RunState.TERMINATED: "terminated",
        RunState.TIMED_OUT: "timeout",
    }.get(state, "application")


def with_histories(
    items: Sequence[ClaimedItem],
    wanted: dict[str, int],
    read: tuple[Sequence[Row[Any]], Sequence[Row[Any]]],
) -> list[ClaimedItem]:
    """``items``, each workflow task of a run in ``wanted`` (run id: the seq its history
    was read after) with its run and those events from ``read`` (the run rows and the
    event rows a transaction's prefetch read). A run whose rows cannot be read back
    leaves its task without: its worker reads the history itself, as it would have."""
    if not wanted:
        return list(items)
    found, history = read
    rows: dict[str, list[Row[Any]]] = {}
    for e in history:
        rows.setdefault(e.run_id, []).append(e)
    runs: dict[str, tuple[RunSnapshot, list[Event]]] = {}
    for r in found:
        try:
            runs[r.run_id] = (run_snapshot(r), [event_from_row(e) for e in rows.get(r.run_id, [])])
        except Exception:  # the claim itself stands: the task reads on its own
            _log.warning("the history of run %s read with its claim is unreadable", r.run_id)
    return [
        dataclasses.replace(i, history=runs[i.run_id], history_after=wanted[i.run_id])
        if i.kind == QueueItemKind.WORKFLOW_TASK.value and i.run_id in wanted and i.run_id in runs
        else i
        for i in items
    ]
