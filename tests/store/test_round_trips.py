"""How many round trips the hot transactions make on PostgreSQL, counted on the wire.

Each round trip ends with the server's ``ReadyForQuery``; libpq's protocol trace of
every connection the store checks out counts them. A workflow task's commit sends the
end of its item with the update of its run (the lease taken to be held, checked when the
answer is back), and the rows it inserts with its ``COMMIT``: two round trips. An
activity's result sends the end of its item with the run's update too.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import event, select, update

import turnout
from tests.store.conftest import QUEUE, claim_task, item_state, opened, start, types
from tests.store.test_workflow_tasks import commit, schedule, task_commit
from turnout.contracts.records import QueueItemState
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.schema import runs
from turnout.executors.internal.store import (
    ClaimedItem,
    ClaimParams,
    EagerClaim,
    SignalParams,
    StaleTaskError,
    StartParams,
    Store,
)

POOL_SIZE = 10
"""The PostgreSQL store's pool size (``PostgresStore``'s default)."""


@pytest.fixture
async def pg_store(postgres_url: str) -> AsyncIterator[Store]:
    """A store on a fresh PostgreSQL database, its schema created."""
    async with opened(str(postgres_url)) as s:
        yield s


class Wire:
    """The protocol trace of the connections a store checks out while counting."""

    def __init__(self, file: Any) -> None:
        self.file = file

    def round_trips(self) -> int:
        """How many times the server said it was ready for the next query."""
        self.file.seek(0)
        lines = self.file.read().decode("utf-8", "replace").splitlines()
        return sum(1 for line in lines if line.startswith("B\t5\tReadyForQuery"))


@contextlib.contextmanager
def wire(store: Store) -> Iterator[Wire]:
    """Trace every connection ``store`` checks out while the block runs."""
    from psycopg import pq

    pool = store.engine.sync_engine
    with tempfile.TemporaryFile() as file:
        traced = Wire(file)

        def checkout(dbapi_conn: Any, *_: Any) -> None:
            pgconn = dbapi_conn.driver_connection.pgconn
            pgconn.trace(file.fileno())
            pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

        def checkin(dbapi_conn: Any, *_: Any) -> None:
            if dbapi_conn is not None:
                dbapi_conn.driver_connection.pgconn.untrace()

        event.listen(pool, "checkout", checkout)
        event.listen(pool, "checkin", checkin)
        try:
            yield traced
        finally:
            event.remove(pool, "checkout", checkout)
            event.remove(pool, "checkin", checkin)


async def _committed(store: Store, item: ClaimedItem, commands: list[Any], **extra: Any) -> int:
    """Round trips of the commit alone (the history it reads first is not counted)."""
    task = await task_commit(store, item, commands, **extra)
    with wire(store) as traced:
        await store.commit_workflow_task(task)
        return traced.round_trips()


async def test_a_start_under_the_default_id_policies_is_one_round_trip(pg_store: Store) -> None:
    starts = [
        StartParams(workflow_id=f"s-{i}", workflow_type="Flow", task_queue=QUEUE, input=[i])
        for i in range(3)
    ]
    with wire(pg_store) as traced:
        results = await pg_store.start_workflows(starts)
        trips = traced.round_trips()
    assert trips == 1  # the inserts with BEGIN and COMMIT; nothing read first
    assert [getattr(r, "created", None) for r in results] == [True, True, True]
    assert await types(pg_store, results[0].run_id) == ["workflow_started"]  # type: ignore[union-attr]


async def test_a_signal_to_an_open_run_is_two_round_trips(pg_store: Store) -> None:
    run_id = await start(pg_store)
    with wire(pg_store) as traced:
        assert await pg_store.signal(
            SignalParams("default", run_id, "poke", ["x"], workflow_id="wf")
        )
        trips = traced.round_trips()
    assert trips == 2  # the run's update with BEGIN; the event, its task and COMMIT
    assert (await types(pg_store, run_id))[-1] == "signal_received"


async def test_handles_signal_without_reading_the_run_first(postgres_url: str) -> None:
    client = await turnout.connect(executor="internal", database_url=str(postgres_url))
    try:
        handle = await client.start_workflow("Flow", id="named", task_queue=QUEUE)
        assert handle.run_id is None  # the workflow id's open run, found by the signal
        pinned = client.get_workflow_handle("named", run_id=handle.result_run_id)
        for target in (handle, pinned):
            with wire(client.store) as traced:
                await target.signal("poke", "x")
                trips = traced.round_trips()
            assert trips == 2  # the signal's transaction alone
        kinds = await types(client.store, handle.result_run_id)
        assert kinds[-2:] == ["signal_received", "signal_received"]
        other = client.get_workflow_handle("another", run_id=handle.result_run_id)
        with pytest.raises(turnout.WorkflowNotFoundError):
            await other.signal("poke", "x")
        with pytest.raises(turnout.WorkflowNotFoundError):
            await client.get_workflow_handle("nobody").signal("poke", "x")
        await handle.terminate()
        with pytest.raises(turnout.WorkflowAlreadyCompletedError):
            await handle.signal("poke", "late")
    finally:
        await client.close()


async def test_a_commit_that_schedules_an_activity_it_leases_is_two_round_trips(
    pg_store: Store,
) -> None:
    run_id = await start(pg_store)
    item = await claim_task(pg_store)
    eager = EagerClaim(owner="w1", task_queue=QUEUE, names=frozenset({"act"}), limit=5)
    assert await _committed(pg_store, item, [schedule(1)], eager=eager) == 2
    (leased,) = eager.claimed
    assert (leased.run_id, leased.name, leased.lease_owner) == (run_id, "act", "w1")
    assert await item_state(pg_store, leased.id) == QueueItemState.RUNNING.value


async def test_a_commit_that_closes_a_run_without_children_is_two_round_trips(
    pg_store: Store,
) -> None:
    run_id = await start(pg_store)
    item = await claim_task(pg_store)
    done = [cmd.CompleteWorkflow(result="ok")]
    assert await _committed(pg_store, item, done, children=False) == 2
    assert (await types(pg_store, run_id))[-2:] == ["workflow_completed", "state_changed"]
    assert await item_state(pg_store, item.id) == QueueItemState.COMPLETED.value


async def test_an_activity_result_claiming_the_task_it_wakes_is_three_round_trips(
    pg_store: Store,
) -> None:
    run_id = await start(pg_store)
    await commit(pg_store, await claim_task(pg_store), [schedule(1)])
    (act,) = await pg_store.claim(
        ClaimParams(QUEUE, "w1", workflow_tasks=0, activities=1, workflow_lease=30)
    )
    seen = len(await types(pg_store, run_id))  # what the worker's cached instance saw
    eager = EagerClaim(
        owner="w1", task_queue=QUEUE, names=frozenset({"Flow"}), limit=1, seen={run_id: seen}
    )
    with wire(pg_store) as traced:
        assert await pg_store.complete_activities([(act, "done")], eager=eager) == [True]
        trips = traced.round_trips()
    assert trips == 3  # the result with the run's update, the eager claim, the commit
    (task,) = eager.claimed
    assert (task.run_id, task.kind) == (run_id, "workflow_task")
    # The task's history came with the COMMIT: the events after what the worker saw.
    assert task.history is not None
    run, history = task.history
    assert task.history_after == seen
    assert [e.type.value for e in history] == (await types(pg_store, run_id, seen))
    assert [e.seq for e in history] == list(range(seen + 1, run.next_seq))
    assert "activity_completed" in [e.type.value for e in history]


async def test_a_claim_of_first_tasks_with_their_histories_is_two_round_trips(
    pg_store: Store,
) -> None:
    run_ids = [await start(pg_store, f"wf-{i}") for i in range(3)]
    with wire(pg_store) as traced:
        items = await pg_store.claim(ClaimParams(QUEUE, "w1", 3, 1, workflow_lease=30, peek=False))
        trips = traced.round_trips()
    assert trips == 2  # the claim with its runs' change of state; the histories and COMMIT
    assert sorted(item.run_id for item in items) == sorted(run_ids)
    for item in items:
        assert item.history is not None
        run, history = item.history
        assert run.state == "claimed"
        assert [e.type.value for e in history][-1] == "state_changed"
        assert [e.seq for e in history] == list(range(1, len(history) + 1))
        assert (await types(pg_store, item.run_id))[-1] == "state_changed"


async def test_a_claimed_task_comes_with_the_events_its_worker_lacks(pg_store: Store) -> None:
    held = await start(pg_store, "held")
    await commit(pg_store, await claim_task(pg_store), [schedule(1)])
    # A run the worker holds no instance of: its whole history is read apart, not
    # inside the claim's transaction.
    elsewhere = await start(pg_store, "elsewhere")
    await commit(pg_store, await claim_task(pg_store), [schedule(1)])
    seen = len(await types(pg_store, held))  # what the worker's cached instance saw
    assert await pg_store.signal(SignalParams("default", held, "poke", ["x"]))
    assert await pg_store.signal(SignalParams("default", elsewhere, "poke", ["y"]))
    fresh = await start(pg_store, "fresh")  # a first task: its history comes anyway
    sees = {held: seen}.get
    with wire(pg_store) as traced:
        items = await pg_store.claim(
            ClaimParams(QUEUE, "w1", 3, 0, workflow_lease=30, peek=False, seen=lambda r: sees(r, 0))
        )
        trips = traced.round_trips()
    assert trips == 2  # the claim; the histories with the COMMIT
    by_run = {item.run_id: item for item in items}
    assert sorted(by_run) == sorted([held, elsewhere, fresh])
    assert by_run[elsewhere].history is None
    for run_id, after in ((held, seen), (fresh, 0)):
        item = by_run[run_id]
        assert item.history is not None
        assert item.history_after == after
        run, history = item.history
        assert [e.type.value for e in history] == await types(pg_store, run_id, after)
        assert [e.seq for e in history] == list(range(after + 1, run.next_seq))
    assert [e.type.value for e in by_run[held].history[1]] == ["signal_received"]


async def test_a_lost_lease_among_held_ones_is_refused_alone_after_the_guess(
    pg_store: Store,
) -> None:
    run_ids = [await start(pg_store, f"wf-{i}") for i in range(2)]
    items = [await claim_task(pg_store) for _ in run_ids]
    for item in items:
        await commit(pg_store, item, [schedule(1)])
    acts = await pg_store.claim(
        ClaimParams(QUEUE, "w1", workflow_tasks=0, activities=2, workflow_lease=30)
    )
    lost = ClaimedItem(**{**acts[0].__dict__, "lease_owner": "someone-else"})
    with wire(pg_store) as traced:
        assert await pg_store.complete_activities([(lost, 1), (acts[1], 2)]) == [False, True]
        trips = traced.round_trips()
    assert trips > 3  # the guess was rolled back and the transaction made again
    assert await item_state(pg_store, acts[0].id) == QueueItemState.RUNNING.value
    done = [
        e.attributes["result"]
        for run_id in run_ids
        for e in await pg_store.events("default", run_id)
        if e.type.value == "activity_completed"
    ]
    assert done == [2]


async def test_after_failed_transactions_the_engines_transactions_are_still_atomic(
    pg_store: Store,
) -> None:
    # Each store transaction runs its driver in autocommit; a failed one must give its
    # connection back out of it, or a later transaction on that connection would write
    # statement by statement.
    run_id = await start(pg_store)
    item = await claim_task(pg_store)
    stale = await task_commit(pg_store, item, [schedule(1)])
    await commit(pg_store, item, [cmd.CompleteWorkflow(result="first")])
    for _ in range(POOL_SIZE):
        with pytest.raises(StaleTaskError):
            await pg_store.commit_workflow_task(stale)
    for _ in range(POOL_SIZE * 2):
        with contextlib.suppress(RuntimeError):
            async with pg_store.engine.begin() as conn:
                await conn.execute(
                    update(runs).where(runs.c.run_id == run_id).values(result="overwritten")
                )
                raise RuntimeError("roll back")
    assert (await pg_store.find_run("default", "wf")).result == "first"


async def test_the_store_sends_its_own_begin_and_commit_around_core_statements(
    pg_store: Store,
) -> None:
    # SQLAlchemy's own transaction is not used (its begin and commit cost a trip through
    # its greenlet adapter each); a statement SQLAlchemy runs inside one of the store's
    # transactions is still in that transaction: kept on COMMIT, undone on an error.
    run_id = await start(pg_store)
    seen: list[str] = []
    sync_engine = pg_store.engine.sync_engine
    listeners = {name: (lambda *_, name=name: seen.append(name)) for name in ("begin", "commit")}
    for name, listener in listeners.items():
        event.listen(sync_engine, name, listener)

    async def write(conn: Any, tx: Any, value: str, fail: bool) -> None:
        await conn.execute(update(runs).where(runs.c.run_id == run_id).values(result=value))
        if fail:
            raise RuntimeError("undo")

    try:
        with pytest.raises(RuntimeError):
            await pg_store._run_tx(write, "undone", True)
        assert await _result_of(pg_store, run_id) is None
        await pg_store._run_tx(write, "kept", False)
        assert await _result_of(pg_store, run_id) == "kept"
    finally:
        for name, listener in listeners.items():
            event.remove(sync_engine, name, listener)
    assert "commit" not in seen


async def _result_of(store: Store, run_id: str) -> Any:
    async with store.reader.connect() as conn:
        query = select(runs.c.result).where(runs.c.run_id == run_id)
        return (await conn.execute(query)).scalar_one()
