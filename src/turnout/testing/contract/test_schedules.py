"""Schedules agree on every executor: a schedule starts runs by its spec, one per fire,
named by the fire time; describe, pause, unpause, trigger, update, list and delete do
what they do on Temporal; each overlap policy does what Temporal's does when a run the
schedule started is still open; limited actions stop; a schedule that cannot be kept is
refused before anything is kept.

Temporal acts on a buffered start when the open run closes, the internal executor at
its scheduler's next pass (within about two seconds): the scenarios wait for what the
schedule did, bounded, rather than for a moment.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from turnout.contracts.errors import WorkflowNotFoundError
from turnout.contracts.limits import InvalidInputError
from turnout.contracts.schedules import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleNotFoundError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from turnout.testing.contract.workflows_schedules import SCHEDULE_WORKFLOWS, Held, Tick
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio

T = TypeVar("T")
WITHIN = 30.0
"""Seconds a scenario waits for what a schedule does."""
YEARLY = ScheduleSpec(cron_expressions=["0 0 1 1 *"])
"""A spec that does not fire during a test: its actions are triggers."""
FIRE_ID = re.compile(r"-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


async def _eventually(probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool]) -> T:
    async with asyncio.timeout(WITHIN):
        while True:
            value = await probe()
            if ok(value):
                return value
            await asyncio.sleep(0.1)


async def _next_second() -> None:
    """Wait until the wall clock's next second: two actions within one second would be
    given the same workflow id (the fire time, to the second), on Temporal as here."""
    now = datetime.now(UTC)
    await asyncio.sleep(1.02 - now.microsecond / 1_000_000)


def _ids() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"sched-{tag}", f"sched-q-{tag}"


async def test_a_schedule_starts_one_run_per_fire_and_reports_them(
    executor: ExecutorHarness,
) -> None:
    client = executor.client
    schedule_id, queue = _ids()
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(Tick.run, "tick", id=schedule_id, task_queue=queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
    )
    async with Worker(client, task_queue=queue, workflows=SCHEDULE_WORKFLOWS):
        handle = await client.create_schedule(schedule_id, schedule)
        described = await _eventually(handle.describe, lambda d: d.info.num_actions >= 2)
        await handle.pause(note="enough")
        paused = await handle.describe()
        recent = paused.info.recent_actions
        assert len(recent) == paused.info.num_actions >= 2
        for result in recent:
            workflow_id = result.action.workflow_id
            assert workflow_id.startswith(schedule_id)
            assert FIRE_ID.search(workflow_id)
            assert workflow_id.endswith(result.scheduled_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
            assert result.started_at >= result.scheduled_at
            run = client.get_workflow_handle(workflow_id)
            assert await run.result() == f"tick:{workflow_id}"
        fire_times = [r.scheduled_at for r in recent]
        assert fire_times == sorted(fire_times)
        assert all(b - a >= timedelta(seconds=1) for a, b in itertools.pairwise(fire_times))
    assert described.schedule.action.workflow == "Tick"
    assert described.schedule.action.task_queue == queue
    assert described.schedule.action.args == ["tick"]
    assert [i.every for i in described.schedule.spec.intervals] == [timedelta(seconds=1)]
    assert described.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    assert described.schedule.policy.catchup_window == timedelta(days=365)
    upcoming = described.info.next_action_times
    assert upcoming
    assert upcoming == sorted(upcoming)
    assert paused.schedule.state == ScheduleState(note="enough", paused=True)
    listed = await _eventually(lambda: _listed(client), lambda ids: schedule_id in ids)
    assert schedule_id in listed
    await handle.unpause(note="again")
    assert (await handle.describe()).schedule.state.paused is False
    await handle.delete()
    with pytest.raises(ScheduleNotFoundError, match=schedule_id):
        await handle.describe()


async def _listed(client: Any) -> list[str]:
    return [s.id async for s in await client.list_schedules()]


async def _running(handle: Any, count: int) -> Any:
    return await _eventually(handle.describe, lambda d: len(d.info.running_actions) == count)


@pytest.mark.parametrize(
    "overlap",
    [
        ScheduleOverlapPolicy.SKIP,
        ScheduleOverlapPolicy.BUFFER_ONE,
        ScheduleOverlapPolicy.TERMINATE_OTHER,
        ScheduleOverlapPolicy.CANCEL_OTHER,
        ScheduleOverlapPolicy.ALLOW_ALL,
    ],
)
async def test_each_overlap_policy_does_what_temporals_does(
    executor: ExecutorHarness, overlap: ScheduleOverlapPolicy
) -> None:
    client = executor.client
    schedule_id, queue = _ids()
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(Held.run, id=schedule_id, task_queue=queue),
        spec=YEARLY,
        policy=SchedulePolicy(overlap=overlap),
    )
    async with Worker(client, task_queue=queue, workflows=SCHEDULE_WORKFLOWS):
        handle = await client.create_schedule(schedule_id, schedule)
        await handle.trigger()
        started = await _eventually(handle.describe, lambda d: d.info.num_actions == 1)
        first = started.info.recent_actions[0].action.workflow_id
        await _next_second()
        await handle.trigger()
        if overlap is ScheduleOverlapPolicy.SKIP:
            done = await _eventually(
                handle.describe, lambda d: d.info.num_actions_skipped_overlap == 1
            )
            assert [r.workflow_id for r in done.info.running_actions] == [first]
        elif overlap is ScheduleOverlapPolicy.BUFFER_ONE:
            await _next_second()
            await handle.trigger()  # a second start while one is buffered is skipped
            await _eventually(handle.describe, lambda d: d.info.num_actions_skipped_overlap == 1)
            await client.get_workflow_handle(first).signal(Held.release)
            done = await _eventually(handle.describe, lambda d: d.info.num_actions == 2)
            assert done.info.running_actions[0].workflow_id != first
        elif overlap is ScheduleOverlapPolicy.ALLOW_ALL:
            # As on Temporal, runs started under ALLOW_ALL are not tracked as running.
            done = await _eventually(handle.describe, lambda d: d.info.num_actions == 2)
            assert done.info.running_actions == []
            for result in done.info.recent_actions:
                run = await client.get_workflow_handle(result.action.workflow_id).describe()
                assert not run.state.is_terminal
        else:
            done = await _eventually(
                handle.describe,
                lambda d: d.info.num_actions == 2 and len(d.info.running_actions) == 1,
            )
            ended = await client.get_workflow_handle(first).describe()
            wanted = (
                "terminated" if overlap is ScheduleOverlapPolicy.TERMINATE_OTHER else "canceled"
            )
            assert ended.state.value == wanted
        for result in done.info.recent_actions:
            run = client.get_workflow_handle(result.action.workflow_id)
            if not (await run.describe()).state.is_terminal:
                await run.signal(Held.release)
        await _running(handle, 0)
        await handle.delete()


async def test_limited_actions_stop_and_update_changes_the_schedule(
    executor: ExecutorHarness,
) -> None:
    client = executor.client
    schedule_id, queue = _ids()
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(Tick.run, "x", id=schedule_id, task_queue=queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
        state=ScheduleState(limited_actions=True, remaining_actions=2),
    )
    async with Worker(client, task_queue=queue, workflows=SCHEDULE_WORKFLOWS):
        handle = await client.create_schedule(schedule_id, schedule)
        spent = await _eventually(
            handle.describe, lambda d: d.schedule.state.remaining_actions == 0
        )
        assert spent.info.num_actions == 2
        assert spent.schedule.state.limited_actions is True

        def more(update: ScheduleUpdateInput) -> ScheduleUpdate:
            old = update.description.schedule
            state = ScheduleState(note="one more", limited_actions=True, remaining_actions=1)
            return ScheduleUpdate(
                Schedule(action=old.action, spec=old.spec, policy=old.policy, state=state)
            )

        await handle.update(more)
        again = await _eventually(handle.describe, lambda d: d.info.num_actions == 3)
        assert again.schedule.state.note == "one more"
        await handle.delete()


async def test_a_schedule_that_cannot_be_kept_is_refused(executor: ExecutorHarness) -> None:
    client = executor.client
    schedule_id, queue = _ids()
    action = ScheduleActionStartWorkflow(Tick.run, "x", id=schedule_id, task_queue=queue)
    for spec, names in (
        (ScheduleSpec(cron_expressions=["61 * * * *"]), "outside 0-59"),
        (ScheduleSpec(cron_expressions=["* *"]), "five"),
        (ScheduleSpec(), "fires never"),
        (ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(0))]), "at least 1 s"),
        (ScheduleSpec(cron_expressions=["@daily"], time_zone_name="Mars/Olympus"), "time zone"),
    ):
        with pytest.raises(InvalidInputError, match=names) as refused:
            await client.create_schedule(schedule_id, Schedule(action=action, spec=spec))
        assert "\n" not in str(refused.value)
    with pytest.raises(ScheduleNotFoundError):
        await client.get_schedule_handle(schedule_id).describe()
    handle = await client.create_schedule(schedule_id, Schedule(action=action, spec=YEARLY))
    with pytest.raises(ScheduleAlreadyRunningError, match=schedule_id):
        await client.create_schedule(schedule_id, Schedule(action=action, spec=YEARLY))
    await handle.delete()
    with pytest.raises(ScheduleNotFoundError):
        await handle.delete()
    with pytest.raises(WorkflowNotFoundError):
        await client.get_workflow_handle(schedule_id).describe()
