"""Conformance: activity outcomes, heartbeats and cancellation."""

from __future__ import annotations

from datetime import timedelta

from tests.store.conftest import QUEUE, claim_task, item_state, items_of, start, types
from tests.store.test_workflow_tasks import commit, schedule
from turnout.contracts.errors import Failure
from turnout.contracts.records import QueueItemState
from turnout.executors.internal.store import (
    ActivityLookup,
    ClaimedItem,
    ClaimParams,
    FailActivityParams,
    Store,
)
from turnout.executors.internal.store.base import utcnow

BOOM = Failure(kind="application", message="boom")


async def running_activity(store: Store) -> tuple[str, ClaimedItem]:
    """A run with one activity claimed by ``w1`` (its workflow task committed)."""
    run_id = await start(store)
    await commit(store, await claim_task(store), [schedule()])
    (act,) = await store.claim(
        ClaimParams(QUEUE, "w1", workflow_tasks=0, activities=1, workflow_lease=30)
    )
    return run_id, act


async def test_claiming_an_activity_starts_it_with_its_timeout_lease(store: Store) -> None:
    run_id, act = await running_activity(store)
    assert (act.kind, act.name, act.lease_owner, act.attempt) == ("activity_task", "act", "w1", 1)
    assert act.lease_expires_at <= utcnow() + timedelta(seconds=31)
    assert (await types(store, run_id))[-1] == "activity_started"


async def test_complete_activity_records_once_and_wakes_the_run(store: Store) -> None:
    run_id, act = await running_activity(store)
    assert await store.complete_activity(act, {"v": 1})
    assert not await store.complete_activity(act, {"v": 2})
    events = await store.events("default", run_id)
    done = [e for e in events if e.type.value == "activity_completed"]
    assert [e.attributes["result"] for e in done] == [{"v": 1}]
    assert await item_state(store, act.id) == QueueItemState.COMPLETED.value
    assert [i.state for i in await items_of(store, run_id) if i.kind == "workflow_task"][-1] == (
        "queued"
    )


async def test_complete_activities_reports_each(store: Store) -> None:
    await start(store)
    await commit(store, await claim_task(store), [schedule(1), schedule(2)])
    first, second = await store.claim(
        ClaimParams(QUEUE, "w1", workflow_tasks=0, activities=2, workflow_lease=30)
    )
    lost = ClaimedItem(**{**first.__dict__, "attempt": 7})
    assert await store.complete_activities([(lost, 1), (second, 2)]) == [False, True]
    assert await item_state(store, first.id) == QueueItemState.RUNNING.value


async def test_fail_activity_with_retry_queues_the_next_attempt(store: Store) -> None:
    run_id, act = await running_activity(store)
    assert await store.fail_activity(
        act, BOOM, FailActivityParams(retry_in=0, heartbeat_details=["h"])
    )
    assert (await types(store, run_id))[-1] == "retry_scheduled"
    (item,) = [i for i in await items_of(store, run_id) if i.kind == "activity_task"]
    assert (item.state, item.attempt, item.heartbeat_details) == ("queued", 2, ["h"])
    assert not await store.fail_activity(act, BOOM, FailActivityParams(retry_in=0))


async def test_fail_activity_for_good_dead_letters_it(store: Store) -> None:
    run_id, act = await running_activity(store)
    assert await store.fail_activity(act, BOOM, FailActivityParams(retry_in=None))
    assert (await types(store, run_id))[-2:] == ["activity_failed", "dead_lettered"]
    assert await item_state(store, act.id) == QueueItemState.DEAD.value


async def test_fail_activity_non_retryable_ends_it_failed(store: Store) -> None:
    run_id, act = await running_activity(store)
    assert await store.fail_activity(act, BOOM, FailActivityParams(retry_in=None, dead=False))
    assert (await types(store, run_id))[-1] == "activity_failed"
    assert await item_state(store, act.id) == QueueItemState.FAILED.value


async def test_fail_activity_guarded_by_expiry_loses_to_a_heartbeat(store: Store) -> None:
    _, act = await running_activity(store)
    await store.heartbeat(act, [], utcnow() + timedelta(hours=1))
    assert not await store.fail_activity(
        act, BOOM, FailActivityParams(retry_in=0, expired_before=utcnow())
    )


async def test_heartbeat_extends_the_lease_and_reports_cancellation(store: Store) -> None:
    run_id, act = await running_activity(store)
    assert not await store.heartbeat(act, ["step", 1], utcnow() + timedelta(minutes=5))
    (item,) = [i for i in await items_of(store, run_id) if i.kind == "activity_task"]
    assert item.heartbeat_details == ["step", 1]
    assert item.heartbeat_at is not None
    await store.terminate("default", run_id, None)
    assert await store.heartbeat(act, [], utcnow() + timedelta(minutes=5))
    lost = ClaimedItem(**{**act.__dict__, "lease_owner": "w2"})
    assert await store.heartbeat(lost, [], utcnow())


async def test_activity_canceled_ends_it_once(store: Store) -> None:
    run_id, act = await running_activity(store)
    assert await store.activity_canceled(act)
    assert not await store.activity_canceled(act)
    assert (await types(store, run_id))[-1] == "activity_canceled"
    assert await item_state(store, act.id) == QueueItemState.CANCELED.value


async def test_running_activity_finds_the_running_attempt_by_item_or_by_ids(store: Store) -> None:
    run_id, act = await running_activity(store)
    by_item = ActivityLookup(item_id=act.id, attempt=act.attempt)
    by_ids = ActivityLookup(workflow_id="wf", run_id=run_id, activity_id="1")
    for lookup in (by_item, by_ids, ActivityLookup(workflow_id="wf", activity_id="1")):
        found = await store.running_activity("default", lookup)
        assert found is not None
        assert (found.id, found.attempt, found.lease_owner) == (act.id, 1, "w1")
    for missing in (
        ActivityLookup(item_id=act.id, attempt=2),  # another attempt
        ActivityLookup(workflow_id="wf", run_id=run_id, activity_id="2"),
        ActivityLookup(workflow_id="other", activity_id="1"),
    ):
        assert await store.running_activity("default", missing) is None
    assert await store.running_activity("another-tenant", by_item) is None
    assert await store.complete_activity(act, "done")
    assert await store.running_activity("default", by_item) is None
    assert await store.running_activity("default", by_ids) is None


async def test_running_activity_skips_an_attempt_of_a_closed_run(store: Store) -> None:
    run_id, act = await running_activity(store)
    assert await store.terminate("default", run_id, "stop")
    assert await item_state(store, act.id) == QueueItemState.RUNNING.value
    assert await store.running_activity("default", ActivityLookup(act.id, act.attempt)) is None
