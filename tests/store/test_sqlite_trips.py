"""How many trips to the driver's thread the hot transactions make on SQLite.

``aiosqlite`` runs ``sqlite3`` on a thread of its own: every call the store makes is a
trip there and back, and each trip wakes the event loop. A statement with its rows is
one trip, the ``BEGIN IMMEDIATE`` one, the ``COMMIT`` one; a connection given back after
its commit is not rolled back again.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiosqlite.core
import pytest
from sqlalchemy.exc import OperationalError

from tests.store.conftest import QUEUE, claim_task, item_state, opened, start
from tests.store.test_workflow_tasks import commit, schedule, task_commit
from turnout.contracts.records import QueueItemState
from turnout.executors.internal import commands as cmd
from turnout.executors.internal import migrate
from turnout.executors.internal.store import ClaimParams, EagerClaim, Store
from turnout.executors.internal.store import sqlite as sqlite_store
from turnout.executors.internal.store import tx as store_tx


@pytest.fixture
async def lite_store(sqlite_url: str) -> AsyncIterator[Store]:
    """A store on a fresh SQLite file, its schema created."""
    async with opened(str(sqlite_url)) as s:
        yield s


class Trips:
    """The calls made to ``aiosqlite``'s thread while counting, by what each ran."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.sent = asyncio.Event()
        """Set at the first call."""

    @property
    def count(self) -> int:
        return len(self.calls)


@contextlib.contextmanager
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[Trips]:
    """Count every call any ``aiosqlite`` connection sends to its thread in the block."""
    counted = Trips()
    original = aiosqlite.core.Connection._execute

    async def execute(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counted.calls.append(getattr(fn, "__name__", repr(fn)))
        counted.sent.set()
        return await original(self, fn, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(aiosqlite.core.Connection, "_execute", execute)
        yield counted


async def test_a_commit_that_schedules_an_activity_it_leases_is_one_trip_per_statement(
    lite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = await start(lite_store)
    item = await claim_task(lite_store)
    eager = EagerClaim(owner="w1", task_queue=QUEUE, names=frozenset({"act"}), limit=5)
    task = await task_commit(lite_store, item, [schedule(1)], eager=eager)
    with trips(monkeypatch) as counted:
        await lite_store.commit_workflow_task(task)
    assert counted.calls.count("rollback") == 0
    assert (counted.calls[0], counted.calls[-1]) == ("execute", "commit")  # BEGIN, COMMIT
    # BEGIN, the run's update, the item's end, the activity's insert with its rows, the
    # events, COMMIT (14 before: three for the BEGIN, two per statement with rows, four
    # for the insert, a rollback after the commit)
    assert counted.count == 6, " ".join(counted.calls)
    (leased,) = eager.claimed
    assert (leased.run_id, leased.name, leased.lease_owner) == (run_id, "act", "w1")
    assert await item_state(lite_store, leased.id) == QueueItemState.RUNNING.value


async def test_an_activity_result_claiming_the_task_it_wakes(
    lite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = await start(lite_store)
    await commit(lite_store, await claim_task(lite_store), [schedule(1)])
    (act,) = await lite_store.claim(
        ClaimParams(QUEUE, "w1", workflow_tasks=0, activities=1, workflow_lease=30)
    )
    eager = EagerClaim(owner="w1", task_queue=QUEUE, names=frozenset({"Flow"}), limit=1)
    with trips(monkeypatch) as counted:
        assert await lite_store.complete_activities([(act, "done")], eager=eager) == [True]
    # BEGIN, the run's update, the item's end, the events, the eager claim, its
    # events, COMMIT (13 before)
    assert counted.count == 7, " ".join(counted.calls)
    (task,) = eager.claimed
    assert (task.run_id, task.kind) == (run_id, "workflow_task")


async def test_a_look_at_an_empty_queue_is_one_trip(
    lite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await lite_store.claim(ClaimParams(QUEUE, "w1", 1, 1, workflow_lease=30))  # opens the pool
    with trips(monkeypatch) as counted:
        found = await lite_store.claim(ClaimParams(QUEUE, "w1", 1, 1, workflow_lease=30, peek=True))
    assert found == []
    assert counted.calls == ["_execute_fetchall"]  # no BEGIN, no rollback after


async def test_a_connection_given_back_in_a_transaction_is_rolled_back(
    lite_store: Store,
) -> None:
    # The pool skips its rollback only for connections out of any transaction: one given
    # back inside a transaction would hold SQLite's write lock for good.
    for _ in range(3):
        async with lite_store.engine.connect() as conn:
            driver = conn.sync_connection.connection.driver_connection  # type: ignore[union-attr]
            await driver.execute("BEGIN IMMEDIATE")
            assert driver.in_transaction
    run_id = await start(lite_store, "after")
    item = await claim_task(lite_store)
    await commit(lite_store, item, [cmd.CompleteWorkflow(result="ok")])
    assert (await lite_store.find_run("default", "after")).run_id == run_id


@pytest.fixture
async def impatient_store(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Store, str]]:
    """A store on a fresh SQLite file that waits 1 s for the write lock and tries a
    transaction twice; and the file's path."""
    monkeypatch.setattr(migrate, "SQLITE_BUSY_TIMEOUT_S", 1)
    monkeypatch.setattr(sqlite_store, "SQLITE_BUSY_TIMEOUT_S", 1)
    monkeypatch.setattr(store_tx, "TX_ATTEMPTS", 2)
    async with opened(str(sqlite_url)) as s:
        yield s, str(sqlite_url).removeprefix("sqlite:///")


def _hold_the_write_lock(path: str) -> sqlite3.Connection:
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


async def _nothing(conn: Any, tx: Any) -> None:
    return None


async def test_transactions_cancelled_as_they_begin_leave_no_transaction_behind(
    lite_store: Store,
) -> None:
    # Cancelled a few loop turns in, a transaction may give its connection back while its
    # BEGIN still waits on the driver's thread: the pool must roll that back after it, or
    # the connection keeps the write lock and the next transaction on it fails.
    await start(lite_store)
    refused = 0
    for turns in range(200):
        cancelled = asyncio.create_task(lite_store._run_tx(_nothing))
        for _ in range(turns % 8):
            await asyncio.sleep(0)  # a cancellation point further on each time
        cancelled.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cancelled
        try:
            await lite_store._run_tx(_nothing)
        except OperationalError:
            refused += 1
    assert refused == 0
    item = await claim_task(lite_store)
    await commit(lite_store, item, [cmd.CompleteWorkflow(result="ok")])
    assert await item_state(lite_store, item.id) == QueueItemState.COMPLETED.value


async def test_a_begin_that_finds_the_database_locked_is_retried_then_reported(
    impatient_store: tuple[Store, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, path = impatient_store
    await start(store)
    holder = _hold_the_write_lock(path)
    try:
        with trips(monkeypatch) as counted, pytest.raises(OperationalError, match="locked"):
            await store._run_tx(_nothing)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert counted.calls.count("execute") == 2  # the BEGIN, tried twice
    await store._run_tx(_nothing)  # and once the lock is free, it goes through
