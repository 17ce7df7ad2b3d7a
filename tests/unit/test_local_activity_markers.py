"""Local activity markers in the replay check: a recorded outcome must be produced again
by the same local activity at the same point, while a patch marker the code no longer
asks about is still skipped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from turnout import EventType
from turnout.contracts.events import Event
from turnout.executors.internal.commands import RecordLocalActivity, RecordMarker
from turnout.executors.internal.determinism import nondeterminism


def _marker(seq: int, **attributes: Any) -> Event:
    return Event(
        run_id="r",
        workflow_id="w",
        seq=seq,
        type=EventType.MARKER_RECORDED,
        at=datetime(2030, 1, 1, tzinfo=UTC),
        correlation_id="c",
        attributes=attributes,
    )


def _local(activity_type: str, seq: int = 1) -> RecordLocalActivity:
    return RecordLocalActivity(
        seq=seq, activity_type=activity_type, activity_id=str(seq), attempt=1, result=7
    )


RECORDED = _local("price_of")


def test_the_same_local_activity_replays() -> None:
    recorded = [_marker(3, **RECORDED.attributes())]
    assert nondeterminism([_local("price_of")], recorded, task_seq=2) is None


def test_another_local_activity_at_that_point_is_nondeterministic() -> None:
    recorded = [_marker(3, **RECORDED.attributes())]
    error = nondeterminism([_local("exchange_rate")], recorded, task_seq=2)
    assert error is not None
    assert "price_of" in str(error)
    assert "exchange_rate" in str(error)


def test_a_local_activity_no_longer_asked_for_is_nondeterministic() -> None:
    recorded = [_marker(3, **RECORDED.attributes())]
    error = nondeterminism([], recorded, task_seq=2)
    assert error is not None
    assert "no longer produced" in str(error)


def test_a_patch_the_code_no_longer_asks_about_is_skipped() -> None:
    recorded = [_marker(3, marker="patch", patch_id="old"), _marker(4, **RECORDED.attributes())]
    assert nondeterminism([_local("price_of")], recorded, task_seq=2) is None
    assert nondeterminism([RecordMarker(patch_id="new")], recorded[:1], task_seq=2) is not None
