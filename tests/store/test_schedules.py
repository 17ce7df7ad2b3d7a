"""Conformance: schedules in the store, acted on by passes at a clock the test sets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from turnout.contracts.limits import InvalidInputError
from turnout.contracts.schedule_codec import check_schedule, schedule_to_json
from turnout.contracts.schedules import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from turnout.executors.internal.store import Store
from turnout.executors.internal.store.records import ScheduleChange
from turnout.executors.internal.store.sql import use_clock

T0 = datetime(2026, 12, 24, 18, 0, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[list[datetime]]:
    now = [T0]
    use_clock(lambda: now[0])
    yield now
    use_clock(None)


def stored(**state: Any) -> dict[str, Any]:
    schedule = Schedule(
        action=ScheduleActionStartWorkflow("Flow", id="s", task_queue="q"),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
        state=ScheduleState(**state),
    )
    return schedule_to_json(check_schedule("s", schedule, str))


async def test_a_changed_schedule_does_not_catch_up_fires_from_before(
    store: Store, clock: list[datetime]
) -> None:
    await store.create_schedule("default", "s", stored())
    clock[0] = T0 + timedelta(minutes=10)
    await store.change_schedule("default", "s", ScheduleChange(stored=stored(note="new")))
    assert await store.fire_schedule("default", "s") == 0
    clock[0] = T0 + timedelta(minutes=11)
    assert await store.fire_schedule("default", "s") == 1


async def test_manual_actions_neither_need_nor_use_up_limited_actions(
    store: Store, clock: list[datetime]
) -> None:
    await store.create_schedule("default", "s", stored(limited_actions=True, remaining_actions=1))
    assert await store.trigger_schedule("default", "s") == 1
    assert (await store.get_schedule("default", "s")).schedule.state.remaining_actions == 1
    clock[0] = T0 + timedelta(minutes=3)
    assert await store.fire_schedule("default", "s") == 1  # one left: one of the three fires
    record = await store.get_schedule("default", "s")
    assert record.schedule.state.remaining_actions == 0
    assert record.info["num_actions"] == 2


async def test_a_backfill_longer_than_a_pass_is_refused_whole(
    store: Store, clock: list[datetime]
) -> None:
    await store.create_schedule("default", "s", stored())
    with pytest.raises(InvalidInputError, match="more than 1000 fires"):
        await store.backfill_schedule("default", "s", [(T0 - timedelta(days=1), T0, None)])
    assert (await store.get_schedule("default", "s")).info["num_actions"] == 0
