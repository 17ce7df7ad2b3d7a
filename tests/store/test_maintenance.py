"""Conformance: the reaper's operations and pruning."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from tests.store.conftest import claim_task, item_state, run_state, start, types
from turnout.contracts.records import QueueItemState
from turnout.contracts.states import RunState
from turnout.executors.internal.schema import queue_items, runs
from turnout.executors.internal.store import ClaimedItem, ExpiredRunsParams, SignalParams, Store
from turnout.executors.internal.store.base import utcnow


async def expire(store: Store, item: ClaimedItem) -> ClaimedItem:
    """``item`` with its lease run out."""
    past = utcnow() - timedelta(seconds=5)
    async with store.engine.begin() as conn:
        await conn.execute(
            update(queue_items).where(queue_items.c.id == item.id).values(lease_expires_at=past)
        )
    (expired,) = await store.expired_items()
    return expired


async def test_expired_items_lists_only_leases_past_their_expiry(store: Store) -> None:
    await start(store)
    item = await claim_task(store)
    assert await store.expired_items() == []
    expired = await expire(store, item)
    assert (expired.id, expired.lease_owner) == (item.id, item.lease_owner)


async def test_requeue_expired_workflow_task_puts_it_back_once(store: Store) -> None:
    run_id = await start(store)
    expired = await expire(store, await claim_task(store))
    assert await store.requeue_expired_workflow_task(expired)
    assert await item_state(store, expired.id) == QueueItemState.QUEUED.value
    assert await run_state(store, run_id) is RunState.QUEUED
    assert (await types(store, run_id))[-2:] == ["lease_expired", "state_changed"]
    assert not await store.requeue_expired_workflow_task(expired)
    again = await claim_task(store, "w2")
    assert (again.id, again.attempt) == (expired.id, 2)


async def test_requeue_with_a_newer_task_queued_ends_the_expired_one(store: Store) -> None:
    run_id = await start(store)
    expired = await expire(store, await claim_task(store))
    await store.signal(SignalParams("default", run_id, "poke", []))
    assert await store.requeue_expired_workflow_task(expired)
    assert await item_state(store, expired.id) == QueueItemState.FAILED.value


async def test_expired_runs_and_time_out_run(store: Store) -> None:
    run_id = await start(store, execution_timeout=3600)
    other = await start(store, "other")
    assert await store.expired_runs(ExpiredRunsParams()) == []
    async with store.engine.begin() as conn:
        await conn.execute(
            update(runs)
            .where(runs.c.run_id == run_id)
            .values(execution_deadline=utcnow() - timedelta(seconds=1))
        )
    assert await store.expired_runs(ExpiredRunsParams()) == [run_id]
    assert await store.expired_runs(ExpiredRunsParams(skip=[run_id])) == []
    assert await store.time_out_run(run_id)
    assert await run_state(store, run_id) is RunState.TIMED_OUT
    assert (await types(store, run_id))[-2:] == ["workflow_timed_out", "state_changed"]
    assert not await store.time_out_run(run_id)
    assert await run_state(store, other) is RunState.QUEUED


async def test_prune_finished_deletes_only_old_finished_items(store: Store) -> None:
    run_id = await start(store)
    item = await claim_task(store)
    await store.abandon_workflow_task(item)
    await store.signal(SignalParams("default", run_id, "poke", []))  # a queued item stays
    assert await store.prune_finished(utcnow() - timedelta(hours=1)) == 0
    assert await store.prune_finished(utcnow() + timedelta(seconds=1)) == 1
    assert await item_state(store, item.id) is None
    assert await store.prune_finished(utcnow() + timedelta(seconds=1), limit=10) == 0
