"""Transactions: the one helper every write of the store goes through.

:meth:`StoreTransactions._run_tx` runs a function in one transaction and gives every
write the same treatment: a retry when the database reports a deadlock or a
serialization failure (or, on SQLite, a lock it waited too long for), the dialect's
writer discipline (SQLite: one writer per process at a time, ``BEGIN IMMEDIATE``),
the events the function appended inserted in one statement before the commit, and the
wake-ups it asked for announced (PostgreSQL ``NOTIFY`` inside the transaction, this
process's waiters once it committed).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import and_, insert, or_, select, tuple_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from turnout.executors.internal.schema import events
from turnout.executors.internal.store.notify import Notifier, queue_channel, run_channel
from turnout.executors.internal.store.prepared import Prepared
from turnout.executors.internal.store.records import RunInfo
from turnout.executors.internal.store.sql import RUNS_BY_ID, no_run, padded

__all__ = ["TX_ATTEMPTS", "Later", "StoreTransactions", "Tx", "TxFunction", "read_already"]

T = TypeVar("T")
P = ParamSpec("P")

TX_ATTEMPTS = 6
"""How many times a transaction is tried when the database asks for it again."""

Later = Callable[[], Awaitable[Sequence[Any]]]
"""The rows of a statement that may travel with a later round trip
(:meth:`StoreTransactions._fetch_later`): ``await later()`` reads them."""


def read_already(rows: Sequence[Any]) -> Later:
    """``rows``, read already, as a :data:`Later`."""

    async def ready() -> Sequence[Any]:
        return rows

    return ready


@dataclass
class Tx:
    """One transaction's state: what to announce once committed, the events to insert
    before it commits (one statement for all of them), and the runs it has touched."""

    queues: set[str] = field(default_factory=set)
    """Task queues that have new work (their workers are woken)."""
    runs: set[str] = field(default_factory=set)
    """Runs that closed (their waiters are woken)."""
    channels: set[str] = field(default_factory=set)
    """Other channels to wake (``notify.py``: query requests and answers)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, RunInfo] = field(default_factory=dict)
    prefetch: dict[str, int] = field(default_factory=dict)
    """Runs whose row and history (the events after the seq given) to read last, with
    what the transaction wrote."""
    prefetched: tuple[Sequence[Any], Sequence[Any]] = ((), ())
    """What :attr:`prefetch` read: the :data:`RUNS_BY_ID` rows and the event rows."""
    after: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run once the transaction's last round trip is back (reading what statements sent
    with it returned)."""


TxFunction = Callable[Concatenate[AsyncConnection, Tx, P], Awaitable[T]]
"""What :meth:`StoreTransactions._run_tx` runs: ``fn(conn, tx, ...)``."""


class StoreTransactions:
    """Engines, wake-ups and the transaction helper; the dialect hooks they call."""

    dialect = "sqlite"
    supports_listen_notify = False
    """Other processes' writes wake this one's waiters (PostgreSQL LISTEN/NOTIFY)."""
    supports_skip_locked = False
    """Claims skip rows other transactions hold (``FOR UPDATE SKIP LOCKED``) instead of
    taking the database's one write lock."""
    pipelines = False
    """:meth:`_fetch_later` sends its statement with the transaction's next round trip
    (PostgreSQL's pipeline mode); here it runs at once."""
    commits = False
    """The dialect hooks send the transaction's ``BEGIN`` and ``COMMIT`` themselves
    (:meth:`_tx_began`, :meth:`_finish`): SQLAlchemy's own transaction is not used."""

    def __init__(
        self,
        url: str,
        engine: AsyncEngine,
        notifier: Notifier,
        *,
        reader: AsyncEngine | None = None,
    ) -> None:
        self.url = url
        self.engine = engine
        """Engine for transactions that write."""
        self.reader = reader or engine
        """Engine for reads (SQLite: deferred transactions that do not take the write lock)."""
        self.notifier = notifier

    # -- dialect hooks --------------------------------------------------------------------
    def _insert(self, table: Any) -> Any:
        """Dialect hook: an ``INSERT`` that knows ``ON CONFLICT DO NOTHING``."""
        raise NotImplementedError

    async def _announce(self, conn: AsyncConnection, tx: Tx) -> None:
        """Dialect hook: publish ``tx`` inside the transaction (PostgreSQL NOTIFY)."""

    def _among(self, column: Any, values: Sequence[Any], filler: Callable[[int], Any]) -> Any:
        """Dialect hook: SQL ``column IN values``. Here a padded ``IN`` list (see
        :func:`padded`); ``filler(i)`` makes values that match nothing."""
        return column.in_(padded(values, filler))

    def _rows_among(
        self, columns: Sequence[Any], rows: Sequence[tuple[Any, ...]], filler: Callable[[int], Any]
    ) -> Any:
        """Dialect hook: SQL ``(columns...) IN rows``, a row-value ``IN``; as :meth:`_among`."""
        return tuple_(*columns).in_(padded(rows, filler))

    async def _insert_rows(
        self,
        conn: AsyncConnection,
        table: Any,
        rows: Sequence[dict[str, Any]],
        *,
        skip_conflicts: bool = False,
    ) -> None:
        """Dialect hook: insert ``rows`` (dicts with the same keys) into ``table`` in one
        call; with ``skip_conflicts``, a row that conflicts with one stored is left out."""
        if rows:
            stmt = self._insert(table).on_conflict_do_nothing() if skip_conflicts else insert(table)
            await conn.execute(stmt, list(rows))

    async def _insert_returning_later(
        self, conn: AsyncConnection, table: Any, rows: Sequence[dict[str, Any]]
    ) -> Later:
        """Dialect hook: insert ``rows`` (dicts with the same keys) into ``table`` now, or
        with the transaction's next round trip (as :meth:`_fetch_later`); the rows stored
        (every column), in the order of ``rows``."""
        stmt = insert(table).returning(*table.c, sort_by_parameter_order=True)
        return read_already((await conn.execute(stmt, list(rows))).all() if rows else [])

    async def _tx_began(self, conn: AsyncConnection) -> None:
        """Dialect hook: a transaction began on ``conn``."""

    async def _tx_ended(self, conn: AsyncConnection) -> None:
        """Dialect hook: the transaction on ``conn`` ends (committed or not)."""

    async def _finish(self, conn: AsyncConnection, tx: Tx) -> None:
        """Dialect hook: what ends a transaction before its commit: the events it
        appended inserted, what it asked to read last read, its wake-ups announced."""
        await self._flush(conn, tx)
        if tx.prefetch:
            tx.prefetched = await self._history_rows(conn, list(tx.prefetch.items()))
        await self._announce(conn, tx)

    async def _flush(self, conn: AsyncConnection, tx: Tx) -> None:
        """Insert the events ``tx`` appended so far."""
        if tx.events:
            rows, tx.events = tx.events, []
            await self._insert_rows(conn, events, rows)

    async def _fetch(
        self, conn: AsyncConnection, prepared: Prepared, params: Mapping[str, Any] | None = None
    ) -> Sequence[Any]:
        """Dialect hook: run ``prepared`` with ``params``; its rows (attributes by column)."""
        statement = prepared.statement(self.dialect)
        return (await conn.execute(statement, dict(params or {}))).all()

    async def _write(
        self, conn: AsyncConnection, prepared: Prepared, params: Mapping[str, Any] | None = None
    ) -> int:
        """Dialect hook: run ``prepared`` with ``params``; the count of rows it changed."""
        statement = prepared.statement(self.dialect)
        return int((await conn.execute(statement, dict(params or {}))).rowcount)

    async def _fetch_later(
        self, conn: AsyncConnection, prepared: Prepared, params: Mapping[str, Any]
    ) -> Later:
        """Dialect hook: run ``prepared`` now, or (with :attr:`pipelines`) with the
        transaction's next round trip; its rows, read once that is back."""
        return read_already(await self._fetch(conn, prepared, params))

    async def _write_later(
        self, conn: AsyncConnection, prepared: Prepared, params: Mapping[str, Any]
    ) -> None:
        """Dialect hook: run ``prepared`` (a write whose row count nobody reads) now, or
        with the transaction's next round trip."""
        await self._write(conn, prepared, params)

    async def _history_rows(
        self, conn: AsyncConnection, wanted: Sequence[tuple[str, int]]
    ) -> tuple[Sequence[Any], Sequence[Any]]:
        """Dialect hook: the :data:`RUNS_BY_ID` rows of the runs of ``wanted``
        (``(run_id, after_seq)`` pairs), and each one's event rows after that seq, ordered
        by run and seq. Here the events take one condition per distinct seq (fresh tasks
        all read from 0), not one per run."""
        found = await self._fetch(conn, RUNS_BY_ID, {"ids": sorted({r for r, _ in wanted})})
        since: dict[int, list[str]] = {}
        for run_id, seq in wanted:
            since.setdefault(seq, []).append(run_id)
        after = or_(
            *(
                and_(self._among(events.c.run_id, ids, no_run), events.c.seq > seq)
                for seq, ids in sorted(since.items())
            )
        )
        stmt = select(events).where(after).order_by(events.c.run_id, events.c.seq)
        return found, (await conn.execute(stmt)).all()

    def _retryable(self, exc: DBAPIError) -> bool:
        """Dialect hook: True for errors the database asks us to retry (deadlocks...)."""
        return False

    async def start_listening(self) -> None:
        """Dialect hook: start receiving notifications from other processes."""

    async def close(self) -> None:
        """Release connections."""
        own_pool = self.reader.sync_engine.pool is not self.engine.sync_engine.pool
        await self.engine.dispose()
        if own_pool:
            await self.reader.dispose()

    # -- the transaction helper -----------------------------------------------------------
    async def _run_tx(self, fn: TxFunction[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(conn, tx, ...)`` in one transaction, retried when the database reports
        a deadlock or serialization failure (lock orders differ between paths by nature)."""
        for attempt in range(TX_ATTEMPTS):
            tx = Tx()
            try:
                connected = self.engine.connect() if self.commits else self.engine.begin()
                async with connected as conn:
                    await self._tx_began(conn)
                    try:
                        result = await fn(conn, tx, *args, **kwargs)
                        await self._finish(conn, tx)
                        for then in tx.after:
                            await then()
                    finally:
                        await self._tx_ended(conn)
            except DBAPIError as exc:
                if attempt + 1 < TX_ATTEMPTS and self._retryable(exc):
                    await asyncio.sleep(random.uniform(0.002, 0.02) * 2**attempt)
                    continue
                raise
            self._publish_local(tx)
            return result
        raise AssertionError("unreachable")

    def _publish_local(self, tx: Tx) -> None:
        for queue in tx.queues:
            self.notifier.wake(queue_channel(queue))
        for run_id in tx.runs:
            self.notifier.wake(run_channel(run_id))
        for channel in tx.channels:
            self.notifier.wake(channel)
