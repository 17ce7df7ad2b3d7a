"""The normalized event timeline: what every executor must record identically.

:func:`normalize` keeps the event types a user can rely on, each with its key
attributes, and drops what is private to one executor. What is dropped, and why:

* ``workflow_task_completed`` / ``workflow_task_failed`` - how an executor
  batches work into workflow tasks is its own business (Temporal and the
  internal engine wake a workflow at different moments).
* ``state_changed`` - the states are compared through ``describe()``; Temporal
  has no ``claimed`` state, so the transitions themselves differ.
* ``activity_started`` - Temporal records only the start of the last attempt;
  attempts are compared on the outcome event (``attempt`` attribute).
* ``retry_scheduled``, ``lease_expired``, ``dead_lettered`` - queue mechanics of
  the internal executor, with no Temporal history counterpart.
* ``activity_canceled`` - the acknowledgement of a cancelled activity arrives
  whenever the activity next heartbeats, so its position relative to the
  workflow's own progress depends on timing on both executors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from turnout.contracts.events import Event, EventType

__all__ = ["DROPPED", "KEY_ATTRIBUTES", "normalize"]

KEY_ATTRIBUTES: Mapping[EventType, tuple[str, ...]] = {
    EventType.WORKFLOW_STARTED: (),
    EventType.WORKFLOW_COMPLETED: (),
    EventType.WORKFLOW_FAILED: (),
    EventType.WORKFLOW_CANCELED: (),
    EventType.WORKFLOW_TERMINATED: (),
    EventType.WORKFLOW_TIMED_OUT: (),
    EventType.WORKFLOW_CONTINUED_AS_NEW: (),
    EventType.WORKFLOW_CANCEL_REQUESTED: (),
    EventType.ACTIVITY_SCHEDULED: ("activity_type",),
    EventType.ACTIVITY_COMPLETED: ("activity_type", "attempt"),
    EventType.ACTIVITY_FAILED: ("activity_type", "attempt"),
    EventType.ACTIVITY_TIMED_OUT: ("activity_type",),
    EventType.ACTIVITY_CANCEL_REQUESTED: ("activity_type",),
    EventType.TIMER_STARTED: ("duration",),
    EventType.TIMER_FIRED: (),
    EventType.TIMER_CANCELED: (),
    EventType.SIGNAL_RECEIVED: ("name",),
    EventType.WORKFLOW_UPDATE_ACCEPTED: ("name",),
    EventType.WORKFLOW_UPDATE_COMPLETED: (),
    EventType.CHILD_WORKFLOW_STARTED: ("workflow_type",),
    EventType.CHILD_WORKFLOW_COMPLETED: (),
    EventType.CHILD_WORKFLOW_FAILED: (),
    EventType.CHILD_WORKFLOW_CANCELED: (),
    EventType.CHILD_WORKFLOW_TERMINATED: (),
    EventType.CHILD_WORKFLOW_TIMED_OUT: (),
    EventType.SIGNAL_EXTERNAL_WORKFLOW_INITIATED: ("name",),
    EventType.EXTERNAL_WORKFLOW_SIGNALED: (),
    EventType.SIGNAL_EXTERNAL_WORKFLOW_FAILED: ("cause",),
    EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_INITIATED: (),
    EventType.EXTERNAL_WORKFLOW_CANCEL_REQUESTED: (),
    EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_FAILED: ("cause",),
    EventType.MARKER_RECORDED: ("patch_id",),
    EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: (),
    EventType.APPROVAL_REQUESTED: ("name",),
    EventType.APPROVAL_DECIDED: ("name", "outcome"),
    EventType.POLICY_DECIDED: ("name", "outcome"),
    EventType.ARTIFACT_RECORDED: ("name",),
}
"""Kept event types and the attributes compared for each."""

LOCAL_ACTIVITY_KEYS = ("marker", "activity_type")
"""A local activity's marker is compared on these instead (a patch marker on its id)."""

DROPPED: frozenset[EventType] = frozenset(set(EventType) - set(KEY_ATTRIBUTES))
"""Event types normalized away (see the module docstring for why)."""

Step = tuple[str, dict[str, Any]]


def normalize(events: Iterable[Event]) -> list[Step]:
    """``[(event type, {key attribute: value})]`` in timeline order, private events dropped."""
    steps: list[Step] = []
    for event in events:
        keys = KEY_ATTRIBUTES.get(event.type)
        if keys is None:
            continue
        if event.type is EventType.MARKER_RECORDED and event.attributes.get("marker") == (
            "local_activity"
        ):
            keys = LOCAL_ACTIVITY_KEYS
        steps.append((event.type.value, {k: event.attributes.get(k) for k in keys}))
    return steps
