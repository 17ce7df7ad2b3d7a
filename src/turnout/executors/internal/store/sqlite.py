"""SQLite hooks: WAL, a busy timeout, ``BEGIN IMMEDIATE`` for every writing transaction.

``BEGIN IMMEDIATE`` takes the database's write lock before the first read, so
two worker processes on one file can never both claim the same item: the
second waits (busy timeout) and then sees the first one's claim.

Within one process, writers queue on an ``asyncio.Lock`` before they ask SQLite
for the write lock: SQLite's busy handler sleeps and polls, so coroutines of one
process competing for the lock through it can starve each other for the whole
busy timeout. A "database is locked" that still happens (another process held the
lock longer than the busy timeout) is retried like a deadlock on PostgreSQL.

Between processes, writers take turns on a lock file before they ask SQLite
(``sqlite_turns.py``): the next one is woken the moment the lock is free, where SQLite's
busy handler would sleep up to 25 ms and more between looks.

Other processes on the same file hear of new work and closed runs through datagrams
(``wakeups.py``) instead of at their next look.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, PoolResetState

try:
    from sqlalchemy.util import await_
except ImportError:  # SQLAlchemy 2.0
    from sqlalchemy.util import await_only as await_

from turnout.executors.internal.migrate import (
    SQLITE_BUSY_TIMEOUT_S,
    sqlalchemy_url,
    sqlite_on_connect,
)
from turnout.executors.internal.store.base import Store
from turnout.executors.internal.store.commit_plan import Plan, run_updates
from turnout.executors.internal.store.notify import Notifier, queue_channel, run_channel
from turnout.executors.internal.store.sqlite_batches import (
    bump_statement,
    plan_rows,
    plans_statement,
)
from turnout.executors.internal.store.sqlite_direct import SqliteDirect, translated
from turnout.executors.internal.store.sqlite_turns import WriteTurns, turns_file
from turnout.executors.internal.store.tx import Tx, TxFunction
from turnout.executors.internal.store.wakeups import SocketWakeups, wake_folder

__all__ = ["SqliteStore"]

T = TypeVar("T")
P = ParamSpec("P")


def _engine(url: str, begin: str) -> AsyncEngine:
    """An engine whose every statement is one trip to the driver's thread and back
    (``aiosqlite`` runs ``sqlite3`` on a thread of its own): the ``BEGIN`` goes to the
    driver itself (SQLAlchemy's cursor would make three trips), and a connection given
    back to the pool is rolled back only when a transaction may still be open on it
    (SQLAlchemy rolls back every connection given back, committed or not). Connections
    are pooled whatever SQLAlchemy's version (2.0 opened one per transaction)."""
    engine = create_async_engine(
        sqlalchemy_url(url, async_=True),
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
        poolclass=AsyncAdaptedQueuePool,
        pool_reset_on_return=None,
    )
    # WAL, busy timeout and the driver's own transaction handling switched off,
    # as for every turnout SQLite connection; the BEGIN below opens transactions.
    event.listen(engine.sync_engine, "connect", sqlite_on_connect)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Marked before it is sent: a caller cancelled while the BEGIN waits for the lock
        # gives the connection back before the driver's thread has run it.
        conn.connection.info[_MAY_BE_OPEN] = True
        with translated(begin, (), engine.dialect):  # "database is locked": retried
            await_(conn.connection.driver_connection.execute(begin))

    @event.listens_for(engine.sync_engine, "commit")
    def _on_commit(conn: Any) -> None:
        conn.connection.info.pop(_MAY_BE_OPEN, None)

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, record: Any, state: PoolResetState) -> None:
        if not state.asyncio_safe:
            return
        began = record is not None and record.info.pop(_MAY_BE_OPEN, False)
        if began or dbapi_connection.driver_connection.in_transaction:
            # Runs on the driver's thread after anything still queued there (a BEGIN);
            # without a transaction open by then it does nothing.
            dbapi_connection.rollback()

    return engine


_MAY_BE_OPEN = "turnout_may_be_open"
"""Set in a connection's ``info`` from its ``BEGIN`` until its ``COMMIT``."""


class SqliteStore(SqliteDirect, Store):
    """The store on one SQLite file (local development, tests, single node)."""

    dialect = "sqlite"
    supports_skip_locked = False

    def __init__(self, url: str, notifier: Notifier) -> None:
        super().__init__(
            url,
            _engine(url, "BEGIN IMMEDIATE"),
            notifier,
            reader=_engine(url, "BEGIN"),
        )
        self._writers: asyncio.Lock | None = None
        folder = wake_folder(make_url(url).database)
        self._wakeups = SocketWakeups(folder, notifier)
        self._turns = WriteTurns(turns_file(folder), SQLITE_BUSY_TIMEOUT_S)

    @property
    def supports_listen_notify(self) -> bool:  # type: ignore[override]
        """Other processes' commits wake this one's waiters once it listens (datagrams)."""
        return self._wakeups.listening

    async def start_listening(self) -> None:
        """Receive other processes' wake-ups (idempotent)."""
        self._wakeups.start()

    def _publish_local(self, tx: Tx) -> None:
        super()._publish_local(tx)
        channels = [queue_channel(q) for q in tx.queues] + [run_channel(r) for r in tx.runs]
        self._wakeups.announce([*channels, *sorted(tx.channels)])

    async def close(self) -> None:
        self._wakeups.close()
        await super().close()
        self._turns.close()

    def _insert(self, table: Any) -> Any:
        return sqlite_insert(table)

    async def _bump_runs(
        self,
        conn: AsyncConnection,
        counts: dict[str, int],
        now: datetime,
        claiming: bool,
        guard: Mapping[str, str],
    ) -> Sequence[Any]:
        ids = sorted(counts)
        document = json.dumps([{"run_id": r, "n": counts[r]} for r in ids])
        params = {"counts": document, "ids": ids, "now": now, **guard}
        return await self._fetch(conn, bump_statement(claiming, tuple(sorted(guard))), params)

    async def _update_plans(
        self, conn: AsyncConnection, plans: Sequence[Plan], now: datetime
    ) -> Sequence[Any]:
        names, partial, rows = run_updates(plans)
        document = plan_rows(self.engine.dialect, names, partial, rows)
        params = {"plans": document, "now": now, "ids": [p.run.run_id for p in plans]}
        return await self._fetch(conn, plans_statement(names, partial), params)

    def _retryable(self, exc: DBAPIError) -> bool:
        return "database is locked" in str(exc.orig)

    async def _run_tx(self, fn: TxFunction[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        if self._writers is None:
            self._writers = asyncio.Lock()
        async with self._writers, self._turns.turn():
            return await super()._run_tx(fn, *args, **kwargs)
