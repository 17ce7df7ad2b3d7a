"""Records read back from rows: built without validation, and yet the same records
validation would build from the same values."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from turnout.contracts.events import Event
from turnout.contracts.records import Run
from turnout.executors.internal.store.rows import (
    cron_schedule_of,
    event_from_row,
    run_from_row,
    same_chain,
)

AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _run_row(**changes: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "workflow_id": "order-7",
        "run_id": "run-1",
        "workflow_type": "Order",
        "task_queue": "orders",
        "tenant_id": "acme",
        "correlation_id": "c-1",
        "state": "completed",
        "attempt": 2,
        "requested_at": AT,
        "started_at": AT,
        "closed_at": AT,
        "result": {"total": 12},
        "failure": None,
        "parent_workflow_id": None,
        "parent_run_id": None,
        "continued_from_run_id": None,
        "memo": {"m": 1},
        "search_attributes": None,
        "options": {"cron_schedule": "@daily"},
        "task_id": "task-1",
    }
    return SimpleNamespace(**{**values, **changes})


def test_a_run_read_back_equals_the_validated_run_of_its_values() -> None:
    run = run_from_row(_run_row())

    validated = Run.model_validate(run.model_dump())
    assert run.model_dump() == validated.model_dump()
    assert set(run.__dict__) == set(Run.model_fields)  # a field added to Run is read too
    assert run.model_fields_set == validated.model_fields_set - {
        "pending_activities",
        "pending_children",
        "pending_signals",
        "pending_updates",
        "stuck_reason",
    }
    assert cron_schedule_of(run) == "@daily"
    assert cron_schedule_of(run_from_row(_run_row(options=None))) is None


def test_runs_of_one_start_share_a_chain() -> None:
    first = run_from_row(_run_row())
    continued = run_from_row(_run_row(run_id="run-2", continued_from_run_id="run-1"))
    other = run_from_row(_run_row(run_id="run-3", task_id="task-2"))

    assert same_chain(first, continued)
    assert not same_chain(first, other)
    assert not same_chain(Run.model_validate(first.model_dump()), first)  # chain not known


def test_runs_read_back_share_no_mutable_default() -> None:
    first, second = run_from_row(_run_row(memo=None)), run_from_row(_run_row(memo=None))

    first.pending_activities.append("x")  # type: ignore[arg-type]
    first.memo_values["k"] = 1

    assert second.pending_activities == []
    assert second.memo_values == {}


def test_an_event_read_back_equals_the_validated_event_of_its_values() -> None:
    row = SimpleNamespace(
        run_id="run-1",
        workflow_id="order-7",
        seq=3,
        type="activity_completed",
        at=AT,
        correlation_id="c-1",
        tenant_id="acme",
        attributes={"result": [1, 2]},
    )

    event = event_from_row(row)  # type: ignore[arg-type]

    validated = Event.model_validate(event.model_dump())
    assert event == validated
    assert set(event.__dict__) == set(Event.model_fields)
    assert event.model_fields_set == validated.model_fields_set
