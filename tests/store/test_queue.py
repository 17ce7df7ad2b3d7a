"""Conformance: timers, leases, release, quarantine."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from tests.store.conftest import QUEUE, claim_task, item_state, items_of, run_state, start, types
from tests.store.test_workflow_tasks import commit
from turnout.contracts.records import QueueItemState
from turnout.contracts.states import RunState
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.schema import queue_items
from turnout.executors.internal.store import FireTimersParams, SignalParams, Store
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.maintenance import Lull


async def test_timers_that_fire_together_fire_in_the_order_they_came_due(store: Store) -> None:
    """A worker that was away finds several of a run's timers due: their events follow
    their due times, not the order the timers were started in."""
    run_id = await start(store)
    item = await claim_task(store)
    started = [(1, 0.6), (2, 0.2), (3, 0.4)]  # seq, seconds: "slow", "fast", "middle"
    timers = [
        cmd.StartTimer(seq=seq, duration=seconds, fire_at=utcnow().isoformat())
        for seq, seconds in started
    ]
    await commit(store, item, timers)
    now = utcnow()
    async with store.engine.begin() as conn:  # all of them due, a while ago
        for seq, seconds in started:
            await conn.execute(
                update(queue_items)
                .where(queue_items.c.run_id == run_id, queue_items.c.ref == str(seq))
                .values(available_at=now - timedelta(seconds=10 - seconds))
            )
    assert await store.fire_timers(FireTimersParams(QUEUE)) == 3
    _, history = await store.load_history(run_id, 0)
    fired = [e.attributes["timer_seq"] for e in history if e.type.value == "timer_fired"]
    assert fired == [2, 3, 1]


async def test_fire_timers_fires_only_due_ones_and_wakes_the_run(store: Store) -> None:
    run_id = await start(store)
    item = await claim_task(store)
    await commit(
        store,
        item,
        [
            cmd.StartTimer(seq=1, duration=0.0, fire_at=utcnow().isoformat()),
            cmd.StartTimer(seq=2, duration=3600.0, fire_at=utcnow().isoformat()),
        ],
    )
    assert await store.fire_timers(FireTimersParams(QUEUE)) == 1
    assert (await types(store, run_id))[-1] == "timer_fired"
    timers = [i for i in await items_of(store, run_id) if i.kind == "timer"]
    assert sorted(t.state for t in timers) == ["completed", "queued"]
    assert await store.fire_timers(FireTimersParams(QUEUE)) == 0
    due = await store.next_due(QUEUE)
    assert due is not None
    assert due <= utcnow()


async def test_next_due_is_none_for_an_empty_queue(store: Store) -> None:
    assert await store.next_due(QUEUE) is None


async def test_extend_leases_only_for_the_owner(store: Store) -> None:
    await start(store)
    item = await claim_task(store, "w1")
    until = utcnow() + timedelta(hours=1)
    await store.extend_leases("w2", [item.id], until)
    await store.extend_leases("w1", [item.id], until)
    async with store.reader.connect() as conn:
        lease = (
            await conn.execute(
                select(queue_items.c.lease_expires_at).where(queue_items.c.id == item.id)
            )
        ).scalar_one()
    assert abs((lease.replace(tzinfo=until.tzinfo) - until).total_seconds()) < 1


async def test_release_gives_items_back_with_an_event(store: Store) -> None:
    run_id = await start(store)
    item = await claim_task(store)
    await store.release([item])
    assert await item_state(store, item.id) == QueueItemState.QUEUED.value
    assert (await types(store, run_id))[-1] == "lease_expired"
    again = await claim_task(store, "w2")
    assert again.id == item.id


async def test_release_of_a_task_with_a_newer_one_queued_ends_it(store: Store) -> None:
    run_id = await start(store)
    item = await claim_task(store)
    await store.signal(
        SignalParams("default", run_id, "poke", [])
    )  # a second task of the run is queued
    await store.release([item])
    assert await item_state(store, item.id) == QueueItemState.FAILED.value


async def test_quarantine_sets_an_item_aside_once(store: Store) -> None:
    run_id = await start(store)
    item = await claim_task(store)
    assert await store.quarantine_item(item, "bad\x00value")
    assert await item_state(store, item.id) == QueueItemState.DEAD.value
    events = await store.events("default", run_id)
    assert events[-1].type.value == "dead_lettered"
    assert events[-1].attributes["quarantined"] is True
    assert "\x00" not in events[-1].attributes["reason"]
    assert not await store.quarantine_item(item, "again")
    assert await run_state(store, run_id) is RunState.CLAIMED


async def test_lull_is_busy_while_work_is_ready_or_held_else_names_the_next_due(
    store: Store,
) -> None:
    assert await store.lull("default") == Lull(busy=False, until=None)
    await start(store)
    assert (await store.lull("default")).busy  # the first workflow task is ready
    item = await claim_task(store)
    assert (await store.lull("default")).busy  # ... and then held
    fire_at = utcnow() + timedelta(hours=2)
    await commit(store, item, [cmd.StartTimer(seq=1, duration=7200.0, fire_at=fire_at.isoformat())])
    lull = await store.lull("default")
    assert not lull.busy
    assert lull.until is not None
    assert abs((lull.until - fire_at).total_seconds()) < 1
    assert await store.lull("another-tenant") == Lull(busy=False, until=None)


async def test_lull_counts_a_run_deadline(store: Store) -> None:
    await start(store, execution_timeout=600.0)
    item = await claim_task(store)
    await commit(store, item, [])
    lull = await store.lull("default")
    assert not lull.busy
    assert lull.until is not None
    assert 590 < (lull.until - utcnow()).total_seconds() <= 600


async def test_a_run_s_first_task_comes_with_its_history_read_by_the_claim(store: Store) -> None:
    run_id = await start(store)
    first = await claim_task(store)
    assert first.history is not None
    row, history = first.history
    assert (row.run_id, row.state) == (run_id, RunState.CLAIMED.value)
    assert [e.type.value for e in history] == await types(store, run_id)
    assert history[-1].attributes == {"from": "queued", "to": "claimed"}
    await commit(store, first, [cmd.StartTimer(seq=1, duration=0.0, fire_at=utcnow().isoformat())])
    await store.fire_timers(FireTimersParams(QUEUE))
    second = await claim_task(store)
    assert (second.run_id, second.history) == (run_id, None)  # its worker reads what it lacks
