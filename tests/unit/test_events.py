"""Event types and the Event record."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from turnout.contracts import COMMAND_EVENT_TYPES, INBOUND_EVENT_TYPES, Event, EventType

REQUIRED_TYPES = {
    "workflow_started",
    "workflow_completed",
    "workflow_failed",
    "workflow_canceled",
    "workflow_terminated",
    "workflow_timed_out",
    "workflow_continued_as_new",
    "workflow_cancel_requested",
    "workflow_task_failed",
    "activity_scheduled",
    "activity_started",
    "activity_completed",
    "activity_failed",
    "activity_timed_out",
    "activity_canceled",
    "timer_started",
    "timer_fired",
    "timer_canceled",
    "signal_received",
    "child_workflow_started",
    "child_workflow_completed",
    "child_workflow_failed",
    "marker_recorded",
    "state_changed",
    "lease_expired",
    "retry_scheduled",
    "dead_lettered",
    "approval_requested",
    "approval_decided",
    "policy_decided",
    "artifact_recorded",
}

SNAKE_CASE = re.compile(r"^[a-z]+(_[a-z]+)*$")


@pytest.mark.parametrize("event_type", list(EventType))
def test_values_are_snake_case(event_type: EventType) -> None:
    assert SNAKE_CASE.fullmatch(event_type.value)
    assert event_type.name.lower() == event_type.value


def test_required_types_are_present() -> None:
    assert {t.value for t in EventType} >= REQUIRED_TYPES


def test_values_are_unique() -> None:
    values = [t.value for t in EventType]
    assert len(values) == len(set(values))


def test_inbound_and_command_types_are_disjoint() -> None:
    assert not INBOUND_EVENT_TYPES & COMMAND_EVENT_TYPES


def test_replay_sets_hold_event_types_only() -> None:
    assert set(EventType) >= INBOUND_EVENT_TYPES
    assert set(EventType) >= COMMAND_EVENT_TYPES


@pytest.mark.parametrize(
    "event_type",
    [EventType.WORKFLOW_STARTED, EventType.TIMER_FIRED, EventType.SIGNAL_RECEIVED],
)
def test_what_the_workflow_reacts_to_is_inbound(event_type: EventType) -> None:
    assert event_type in INBOUND_EVENT_TYPES


@pytest.mark.parametrize(
    "event_type",
    [EventType.ACTIVITY_SCHEDULED, EventType.TIMER_STARTED, EventType.WORKFLOW_COMPLETED],
)
def test_what_the_workflow_causes_is_a_command(event_type: EventType) -> None:
    assert event_type in COMMAND_EVENT_TYPES


@pytest.mark.parametrize(
    "event_type",
    [EventType.STATE_CHANGED, EventType.LEASE_EXPIRED, EventType.RETRY_SCHEDULED],
)
def test_bookkeeping_events_are_neither_inbound_nor_command(event_type: EventType) -> None:
    assert event_type not in INBOUND_EVENT_TYPES
    assert event_type not in COMMAND_EVENT_TYPES


def _event(**overrides: object) -> Event:
    fields: dict[str, object] = {
        "run_id": "r-1",
        "workflow_id": "order-o-1",
        "seq": 3,
        "type": EventType.ACTIVITY_SCHEDULED,
        "at": datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
        "correlation_id": "c-42",
        "tenant_id": "acme",
        "attributes": {"activity_type": "charge", "input": ["o-1", 2, None], "nested": {"a": 1.5}},
    }
    fields.update(overrides)
    return Event.model_validate(fields)


def test_event_round_trips_through_json() -> None:
    event = _event()
    again = Event.model_validate_json(event.model_dump_json())
    assert again == event
    assert again.type is EventType.ACTIVITY_SCHEDULED
    assert again.at.tzinfo is not None


def test_event_json_uses_the_type_value() -> None:
    assert '"type":"activity_scheduled"' in _event().model_dump_json()


def test_event_defaults() -> None:
    event = Event(
        run_id="r",
        workflow_id="w",
        seq=1,
        type=EventType.WORKFLOW_STARTED,
        at=datetime(2024, 1, 1, tzinfo=UTC),
        correlation_id="c",
    )
    assert event.tenant_id == "default"
    assert event.attributes == {}


def test_event_is_frozen() -> None:
    event = _event()
    with pytest.raises(ValueError, match="frozen"):
        event.seq = 4  # type: ignore[misc]


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValueError, match="type"):
        _event(type="workflow_exploded")
