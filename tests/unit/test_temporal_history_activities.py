"""Temporal's activity outcomes map to turnout's events: a completed or canceled one (whose
attributes have no failure) maps without one; a failed one carries its failure, causes
nested, so ``turnout events`` can say why."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("temporalio")

from temporalio.api.enums.v1 import EventType as T
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.history.v1 import HistoryEvent

from turnout.executors.temporal._history import map_history


def _event(event_id: int, event_type: int, field: str, **values: Any) -> HistoryEvent:
    event = HistoryEvent(event_id=event_id, event_type=event_type)
    getattr(event, field).MergeFrom(type(getattr(event, field))(**values))
    return event


def _mapped(*events: HistoryEvent) -> list[tuple[str, dict[str, Any]]]:
    timeline = map_history(list(events), run_id="r", workflow_id="w", correlation_id="c")
    return [(e.type.value, e.attributes) for e in timeline]


def _scheduled(event_id: int) -> HistoryEvent:
    event = HistoryEvent(event_id=event_id, event_type=T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    attrs = event.activity_task_scheduled_event_attributes
    attrs.activity_id = str(event_id)
    attrs.activity_type.name = "ship"
    attrs.task_queue.name = "q"
    return event


def test_activity_outcomes_map_with_the_failure_only_where_there_is_one() -> None:
    cause = Failure(
        message="no stock", application_failure_info=ApplicationFailureInfo(type="OutOfStock")
    )
    failure = Failure(message="Activity task failed", cause=cause)
    steps = _mapped(
        _scheduled(1),
        _event(2, T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, "activity_task_completed_event_attributes",
               scheduled_event_id=1),
        _scheduled(3),
        _event(4, T.EVENT_TYPE_ACTIVITY_TASK_FAILED, "activity_task_failed_event_attributes",
               scheduled_event_id=3, failure=failure),
        _scheduled(5),
        _event(6, T.EVENT_TYPE_ACTIVITY_TASK_CANCELED, "activity_task_canceled_event_attributes",
               scheduled_event_id=5),
    )  # fmt: skip
    outcomes = {kind: attrs for kind, attrs in steps if kind != "activity_scheduled"}
    assert "failure" not in outcomes["activity_completed"]
    assert "failure" not in outcomes["activity_canceled"]
    assert outcomes["activity_failed"]["failure"] == {
        "kind": "application",
        "type": None,
        "message": "Activity task failed",
        "cause": {"kind": "application", "type": "OutOfStock", "message": "no stock"},
    }
