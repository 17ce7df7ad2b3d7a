"""An internal history's ``to_json()`` is Temporal's history JSON: temporalio's parser reads
it, its events are the ones Temporal records for the same run, in order, with temporalio's
payloads; temporalio's own replayer replays it; and it still reads back into a history the
internal engine replays."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("temporalio")

import temporalio.client
import temporalio.converter
from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import EventType as T
from temporalio.api.history.v1 import History

from turnout import NonDeterminismError
from turnout.client import Client, WorkflowHistory
from turnout.contracts.events import Event, EventType
from turnout.contracts.history_export import EXPORTED_EVENT_TYPES, temporal_history
from turnout.contracts.temporal_json import duration, payload, timestamp
from turnout.executors.temporal import replay_temporal_history
from turnout.executors.temporal._history import map_history
from turnout.testing.contract.workflows_replayer import HISTORY_ACTIVITIES, ChangedRecipe, Recipe
from turnout.worker import Replayer, Worker

RECIPE_EVENTS = [
    "WORKFLOW_EXECUTION_STARTED",
    "WORKFLOW_EXECUTION_SIGNALED",
    *["WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"],
    *["ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_STARTED", "ACTIVITY_TASK_COMPLETED"],
    *["WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"],
    *["ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_STARTED", "ACTIVITY_TASK_COMPLETED"],
    *["WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"],
    *["TIMER_STARTED", "TIMER_FIRED"],
    *["WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"],
    "WORKFLOW_EXECUTION_COMPLETED",
]
"""A Recipe run signalled before any worker picked it up: two activities, a timer."""


@pytest.fixture
async def recorded(tmp_path: Path) -> WorkflowHistory:
    """The history of a Recipe run on the internal executor (SQLite), its signal sent
    before the worker starts, so the order of its events is fixed."""
    client = await Client.connect(f"sqlite:///{tmp_path}/history.db")
    try:
        handle = await client.start_workflow(
            Recipe.run, ["flour", "egg"], id="recipe-export", task_queue="export"
        )
        await handle.signal(Recipe.serve)
        async with Worker(
            client, task_queue="export", workflows=[Recipe], activities=HISTORY_ACTIVITIES
        ):
            assert await handle.result() == 80
        return await handle.fetch_history()
    finally:
        await client.close()


def _decoded(payloads: Any) -> list[Any]:
    return temporalio.converter.default().payload_converter.from_payloads(payloads.payloads)


async def test_temporalio_reads_the_export_with_the_events_in_order(
    recorded: WorkflowHistory,
) -> None:
    parsed = temporalio.client.WorkflowHistory.from_json(recorded.workflow_id, recorded.to_json())
    events = list(parsed.events)
    assert [T.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events] == RECIPE_EVENTS
    assert [e.event_id for e in events] == list(range(1, len(events) + 1))

    started = events[0].workflow_execution_started_event_attributes
    assert (started.workflow_type.name, started.task_queue.name) == ("Recipe", "export")
    assert _decoded(started.input) == [["flour", "egg"]]
    assert started.original_execution_run_id == recorded.run_id
    assert events[1].workflow_execution_signaled_event_attributes.signal_name == "serve"

    by_id = {e.event_id: e for e in events}
    completed = [e for e in events if e.event_type == T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]
    assert [_decoded(e.activity_task_completed_event_attributes.result) for e in completed] == [
        [50],
        [30],
    ]
    for event in completed:
        done = event.activity_task_completed_event_attributes
        scheduled = by_id[done.scheduled_event_id].activity_task_scheduled_event_attributes
        assert scheduled.activity_type.name == "weigh"
        assert by_id[done.started_event_id].activity_task_started_event_attributes.attempt == 1
    timer = next(e for e in events if e.event_type == T.EVENT_TYPE_TIMER_STARTED)
    assert timer.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() == timedelta(
        seconds=0.05
    )
    fired = next(e for e in events if e.event_type == T.EVENT_TYPE_TIMER_FIRED)
    assert fired.timer_fired_event_attributes.started_event_id == timer.event_id
    closed = events[-1].workflow_execution_completed_event_attributes
    assert _decoded(closed.result) == [80]
    assert by_id[closed.workflow_task_completed_event_id].event_type == (
        T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )


async def test_the_export_maps_back_onto_the_internal_timeline(recorded: WorkflowHistory) -> None:
    """The Temporal executor's own mapping of the export gives the internal timeline's
    event types back, turnout's own bookkeeping aside."""
    parsed = temporalio.client.WorkflowHistory.from_json(recorded.workflow_id, recorded.to_json())
    mapped = map_history(
        list(parsed.events),
        run_id=recorded.run_id,
        workflow_id=recorded.workflow_id,
        correlation_id="",
    )
    own = {EventType.STATE_CHANGED}
    assert [e.type for e in mapped if e.type not in own] == [
        e.type for e in recorded.events if e.type not in own
    ]


async def test_temporalios_replayer_replays_the_export(recorded: WorkflowHistory) -> None:
    """Temporal's events alone (turnout's left out) replay on temporalio's replayer, which
    refuses changed code as the internal engine does."""
    temporal_only = {k: v for k, v in recorded.to_json_dict().items() if k == "events"}
    assert await replay_temporal_history(recorded.workflow_id, temporal_only, [Recipe]) is None
    changed = await replay_temporal_history(recorded.workflow_id, temporal_only, [ChangedRecipe])
    assert isinstance(changed, NonDeterminismError)
    assert "Activity type of scheduled event 'weigh'" in str(changed)


async def test_the_export_reads_back_and_replays_on_the_internal_engine(
    recorded: WorkflowHistory,
) -> None:
    again = WorkflowHistory.from_json(recorded.workflow_id, recorded.to_json())
    assert again.temporal is None
    assert again.events == recorded.events
    assert again.to_json_dict() == recorded.to_json_dict()
    assert (await Replayer(workflows=[Recipe]).replay_workflow(again)).replay_failure is None
    with pytest.raises(NonDeterminismError):
        await Replayer(workflows=[ChangedRecipe]).replay_workflow(again)


def test_a_history_written_before_the_export_still_reads_back() -> None:
    events = [_event(EventType.WORKFLOW_STARTED, workflow_type="Recipe", input=[["salt"]])]
    old = {"workflow_id": "w", "events": [e.model_dump(mode="json") for e in events]}
    assert WorkflowHistory.from_json("w", json.dumps(old)).events == events


# --------------------------------------------------------------------- every event type

AT = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def _event(etype: EventType, **attributes: Any) -> Event:
    return Event(
        run_id="run-1",
        workflow_id="w",
        seq=1,
        type=etype,
        at=AT,
        correlation_id="c",
        attributes=attributes,
    )


def _failure(kind: str, cause: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    return {"kind": kind, "message": f"{kind} failed", "cause": cause, **more}


def _everything() -> list[Event]:
    """A timeline with every exported type (and the values each one carries)."""
    e = EventType
    boom = _failure("application", type="ValueError", details=[1], stack_trace="trace")
    in_activity = _failure("activity", boom, attributes={"retry_state": "maximum_attempts_reached"})
    timeout = _failure("timeout", type="heartbeat", details=["beat"])
    timed_out = _failure("activity", timeout, attributes={"retry_state": "timeout"})
    child_failure = _failure(
        "child_workflow", boom, attributes={"retry_state": "non_retryable_failure"}
    )
    task = {"processed_through": 1, "time": AT.isoformat(), "worker": "host:1"}
    sa = {"Color": {"type": "Keyword", "value": "red"}, "Gone": None}
    child = {"child_seq": 1, "workflow_id": "kid", "workflow_type": "Kid", "run_id": "kid-run"}
    target = {"workflow_id": "other", "run_id": None}
    return [
        _event(
            e.WORKFLOW_STARTED,
            workflow_type="W",
            task_queue="q",
            input=[1],
            attempt=1,
            continued_from_run_id="run-0",
            parent_workflow_id="p",
            parent_run_id="p-run",
            memo={"m": "v"},
            search_attributes=sa,
        ),
        _event(e.SIGNAL_RECEIVED, name="go", args=[{"a": 1}]),
        _event(
            e.WORKFLOW_TASK_FAILED,
            failure=_failure("application", type="NonDeterminismError"),
            attempt=1,
        ),
        _event(e.WORKFLOW_TASK_COMPLETED, **task),
        _event(
            e.ACTIVITY_SCHEDULED,
            activity_seq=1,
            activity_id="1",
            activity_type="a",
            task_queue="q",
            input=["x"],
            start_to_close_timeout=10.0,
            schedule_to_close_timeout=None,
            heartbeat_timeout=2.5,
            retry_policy={
                "initial_interval": "PT0.1S",
                "backoff_coefficient": 2.0,
                "maximum_interval": "PT10S",
                "maximum_attempts": 3,
                "non_retryable_error_types": ["E"],
            },
        ),
        _event(e.ACTIVITY_STARTED, activity_seq=1, attempt=1, worker="host:1"),
        _event(e.RETRY_SCHEDULED, activity_seq=1, attempt=1, failure=boom),
        _event(e.ACTIVITY_STARTED, activity_seq=1, attempt=2, worker="host:1"),
        _event(e.ACTIVITY_FAILED, activity_seq=1, attempt=2, failure=in_activity),
        _event(e.DEAD_LETTERED, activity_seq=1),
        _event(e.ACTIVITY_SCHEDULED, activity_seq=2, activity_type="a", retry_policy=None),
        _event(e.ACTIVITY_TIMED_OUT, activity_seq=2, failure=timed_out),
        _event(e.ACTIVITY_SCHEDULED, activity_seq=3, activity_type="a"),
        _event(e.ACTIVITY_STARTED, activity_seq=3, attempt=1),
        _event(e.ACTIVITY_COMPLETED, activity_seq=3, attempt=1, result=None),
        _event(e.ACTIVITY_SCHEDULED, activity_seq=4, activity_type="a"),
        _event(e.ACTIVITY_CANCEL_REQUESTED, activity_seq=4),
        _event(e.ACTIVITY_CANCELED, activity_seq=4, failure=_failure("canceled")),
        _event(e.TIMER_STARTED, timer_seq=1, duration=0.05),
        _event(e.TIMER_FIRED, timer_seq=1),
        _event(e.TIMER_STARTED, timer_seq=2, duration=3600),
        _event(e.TIMER_CANCELED, timer_seq=2),
        _event(e.WORKFLOW_UPDATE_ACCEPTED, update_id="u1", name="up", args=[1]),
        _event(e.WORKFLOW_UPDATE_COMPLETED, update_id="u1", result={"ok": True}),
        _event(e.WORKFLOW_UPDATE_ACCEPTED, update_id="u2", name="up"),
        _event(e.WORKFLOW_UPDATE_COMPLETED, update_id="u2", failure=boom),
        _event(
            e.CHILD_WORKFLOW_STARTED,
            child_seq=1,
            workflow_id="kid",
            workflow_type="Kid",
            task_queue="q",
            input=[2],
            execution_timeout=60.0,
            id_reuse_policy="allow_duplicate",
            parent_close_policy="terminate",
        ),
        _event(e.CHILD_WORKFLOW_FAILED, **child, failure=child_failure),
        _event(e.CHILD_WORKFLOW_STARTED, child_seq=2, workflow_id="kid", workflow_type="Kid"),
        _event(
            e.CHILD_WORKFLOW_FAILED,
            child_seq=2,
            workflow_id="kid",
            workflow_type="Kid",
            already_started=True,
            failure=child_failure,
        ),
        *[
            _event(etype, **child | {"child_seq": 3}, result=3)
            for etype in (e.CHILD_WORKFLOW_STARTED, e.CHILD_WORKFLOW_COMPLETED)
        ],
        *[
            _event(etype, **child | {"child_seq": 4})
            for etype in (e.CHILD_WORKFLOW_STARTED, e.CHILD_WORKFLOW_CANCELED)
        ],
        *[
            _event(etype, **child | {"child_seq": 5})
            for etype in (e.CHILD_WORKFLOW_STARTED, e.CHILD_WORKFLOW_TERMINATED)
        ],
        *[
            _event(etype, **child | {"child_seq": 6}, failure=_failure("child_workflow", timeout))
            for etype in (e.CHILD_WORKFLOW_STARTED, e.CHILD_WORKFLOW_TIMED_OUT)
        ],
        _event(e.SIGNAL_EXTERNAL_WORKFLOW_INITIATED, signal_seq=1, name="hi", args=[1], **target),
        _event(e.EXTERNAL_WORKFLOW_SIGNALED, signal_seq=1, **target),
        _event(e.SIGNAL_EXTERNAL_WORKFLOW_INITIATED, signal_seq=2, name="hi", **target),
        _event(
            e.SIGNAL_EXTERNAL_WORKFLOW_FAILED,
            signal_seq=2,
            cause="external_workflow_not_found",
            **target,
        ),
        _event(e.REQUEST_CANCEL_EXTERNAL_WORKFLOW_INITIATED, cancel_seq=1, **target),
        _event(e.EXTERNAL_WORKFLOW_CANCEL_REQUESTED, cancel_seq=1, **target),
        _event(e.REQUEST_CANCEL_EXTERNAL_WORKFLOW_INITIATED, cancel_seq=2, **target),
        _event(
            e.REQUEST_CANCEL_EXTERNAL_WORKFLOW_FAILED,
            cancel_seq=2,
            cause="external_workflow_not_found",
            **target,
        ),
        _event(e.MARKER_RECORDED, marker="patch", patch_id="p1"),
        _event(
            e.MARKER_RECORDED,
            marker="local_activity",
            local_seq=1,
            activity_type="la",
            activity_id="1",
            attempt=1,
            result=5,
        ),
        _event(
            e.MARKER_RECORDED,
            marker="local_activity",
            local_seq=2,
            activity_type="la",
            activity_id="2",
            attempt=3,
            failure=boom,
        ),
        _event(e.WORKFLOW_PROPERTIES_MODIFIED, upserted_memo={"m": "w", "gone": None}),
        _event(e.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, search_attributes=sa),
        _event(e.APPROVAL_REQUESTED, name="ok"),
        _event(e.APPROVAL_DECIDED, name="ok", outcome="approved"),
        _event(e.POLICY_DECIDED, name="a"),
        _event(e.ARTIFACT_RECORDED, name="f"),
        _event(e.LEASE_EXPIRED, kind="workflow_task"),
        _event(e.WORKFLOW_CANCEL_REQUESTED),
        _event(e.WORKFLOW_FAILED, failure=boom),
        _event(e.WORKFLOW_COMPLETED, result=[1, "two"]),
        _event(e.WORKFLOW_CANCELED),
        _event(e.WORKFLOW_TERMINATED, reason="stop"),
        _event(e.WORKFLOW_TIMED_OUT),
        _event(e.WORKFLOW_CONTINUED_AS_NEW, workflow_type="W", task_queue="q", input=[2]),
        _event(e.STATE_CHANGED, **{"from": "running", "to": "completed"}),
    ]


def test_every_exported_field_and_enum_is_one_of_temporals() -> None:
    """Parsed strictly, without ignoring unknown fields: every field name and enum value
    written is one Temporal's protobuf has."""
    history = json_format.ParseDict(
        temporal_history(_everything()), History(), ignore_unknown_fields=False
    )
    by_id = {event.event_id: event for event in history.events}
    failed = next(e for e in history.events if e.event_type == T.EVENT_TYPE_ACTIVITY_TASK_FAILED)
    attrs = failed.activity_task_failed_event_attributes
    assert attrs.failure.application_failure_info.type == "ValueError"
    started = by_id[attrs.started_event_id].activity_task_started_event_attributes
    assert (started.attempt, started.last_failure.message) == (2, "application failed")
    refused = next(
        e
        for e in history.events
        if e.event_type == T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED
    )
    initiated = refused.start_child_workflow_execution_failed_event_attributes.initiated_event_id
    assert by_id[initiated].event_type == T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED


def test_every_exported_event_maps_back_to_its_turnout_type() -> None:
    """The Temporal executor's mapping of the export gives back the timeline's exported
    events, in order, but for what Temporal does not record: the activity's first attempt
    (Temporal keeps the last one's start) and the refused child start."""
    history = json_format.ParseDict(temporal_history(_everything()), History())
    mapped = map_history(list(history.events), run_id="r", workflow_id="w", correlation_id="c")
    source = [e.type for e in _everything() if e.type in EXPORTED_EVENT_TYPES]
    first_attempt = source.index(EventType.ACTIVITY_STARTED)
    refused = source.index(
        EventType.CHILD_WORKFLOW_FAILED, source.index(EventType.CHILD_WORKFLOW_FAILED) + 1
    )
    expected = [t for i, t in enumerate(source) if i not in (first_attempt, refused)]
    assert [e.type for e in mapped if e.type is not EventType.STATE_CHANGED] == expected


def test_turnouts_own_event_types_are_the_ones_left_out() -> None:
    written = {event.type for event in _everything()}
    assert set(EventType) == written  # the timeline above has every type
    assert written - EXPORTED_EVENT_TYPES == {
        EventType.STATE_CHANGED,
        EventType.LEASE_EXPIRED,
        EventType.RETRY_SCHEDULED,
        EventType.DEAD_LETTERED,
        EventType.APPROVAL_REQUESTED,
        EventType.APPROVAL_DECIDED,
        EventType.POLICY_DECIDED,
        EventType.ARTIFACT_RECORDED,
    }


@pytest.mark.parametrize("value", [None, 0, "text", [1, "two"], {"b": 1, "a": [None, 2.5]}])
def test_payloads_are_what_temporalios_json_converter_writes(value: Any) -> None:
    expected = temporalio.converter.default().payload_converter.to_payload(value)
    assert payload(value) == json_format.MessageToDict(expected)


@pytest.mark.parametrize("seconds", [0, 1, 0.05, 2.5, 0.000125, 90061.000001])
def test_durations_are_protobufs_json(seconds: float) -> None:
    expected = Duration()
    expected.FromTimedelta(timedelta(seconds=seconds))
    assert duration(seconds) == json_format.MessageToDict(expected)


@pytest.mark.parametrize("micros", [0, 123000, 123456])
def test_timestamps_are_protobufs_json(micros: int) -> None:
    at = AT.replace(microsecond=micros)
    expected = Timestamp()
    expected.FromDatetime(at)
    assert timestamp(at) == json_format.MessageToDict(expected)
