"""PostgreSQL: the store's built-once statements run straight on psycopg, in as few
round trips as the transaction allows.

- A statement built once (``prepared.py``) runs on the transaction's own psycopg
  connection, prepared on the server: no SQLAlchemy execution context, no result object.
- Writes whose outcome nobody reads (many-row inserts, ``NOTIFY``) are deferred: they
  travel with the transaction's next statement, or with its ``COMMIT``, in one round trip
  (psycopg's pipeline mode). So do statements whose rows are read only later
  (``_fetch_later``): their rows are there once that round trip is back. A statement
  SQLAlchemy runs sends them first (an engine event), so the order of a transaction's
  statements never changes.
- A transaction's first statement travels with its ``BEGIN``.

The driver's errors are raised as SQLAlchemy's (``IntegrityError``, ``OperationalError``...),
as SQLAlchemy's own execution raises them, so the retry and isolation rules of ``tx.py``
hold unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, event, func, select, true, util
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.executors.internal.schema import events
from turnout.executors.internal.store.prepared import Compiled, Prepared
from turnout.executors.internal.store.sql import RUNS_BY_ID
from turnout.executors.internal.store.tx import Later, StoreTransactions, Tx

__all__ = ["DirectExecution"]

_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE: no transaction open
_DEFERRED = "turnout_deferred"
"""The key of a connection's deferred writes in its ``info``."""

_await: Any = getattr(util, "await_", None) or util.await_only

_BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED"
_BEGIN_ENTRY: tuple[str, dict[str, Any], None] = (_BEGIN, {}, None)
_UNPREPARED = frozenset({_BEGIN, "COMMIT"})
"""Sent as they are, never prepared on the server."""

Deferred = list[tuple[str, dict[str, Any], "_Result | None"]]
"""Statements waiting for the transaction's next round trip: SQL, arguments, and where
their rows go (None: nobody reads them)."""


def driver_of(conn: AsyncConnection) -> Any:
    """The psycopg connection under ``conn``."""
    return conn.sync_connection.connection.driver_connection  # type: ignore[union-attr]


class DirectExecution(StoreTransactions):
    """The execution hooks of ``tx.py`` on psycopg directly (see the module docstring)."""

    pipelines = True
    commits = True

    def _install_direct(self) -> None:
        """Send a connection's deferred writes before any statement SQLAlchemy runs."""
        event.listen(self.engine.sync_engine, "before_cursor_execute", _send_before)

    # -- statements -----------------------------------------------------------------------
    async def _fetch(
        self, conn: AsyncConnection, prepared: Prepared, params: Mapping[str, Any] | None = None
    ) -> Sequence[Any]:
        compiled = prepared.compiled(self.engine.dialect)
        cursor = await self._run(conn, compiled, params)
        return compiled.rows(await cursor.fetchall())

    async def _write(
        self, conn: AsyncConnection, prepared: Prepared, params: Mapping[str, Any] | None = None
    ) -> int:
        cursor = await self._run(conn, prepared.compiled(self.engine.dialect), params)
        return int(cursor.rowcount)

    def _defer(
        self,
        conn: AsyncConnection,
        prepared: Prepared,
        params: Mapping[str, Any],
        result: _Result | None = None,
    ) -> None:
        """Run ``prepared`` with the transaction's next statement (its rows to ``result``,
        or unread)."""
        compiled = prepared.compiled(self.engine.dialect)
        conn.info.setdefault(_DEFERRED, []).append(
            (compiled.sql, compiled.parameters(params), result)
        )

    async def _fetch_later(
        self, conn: AsyncConnection, prepared: Prepared, params: Mapping[str, Any]
    ) -> Later:
        result = _Result(prepared.compiled(self.engine.dialect), lambda: self._send_deferred(conn))
        self._defer(conn, prepared, params, result)
        return result.rows

    async def _write_later(
        self, conn: AsyncConnection, prepared: Prepared, params: Mapping[str, Any]
    ) -> None:
        self._defer(conn, prepared, params)

    async def _send_deferred(self, conn: AsyncConnection) -> None:
        """Send the deferred statements now (one round trip)."""
        pending: Deferred = conn.info.pop(_DEFERRED, None) or []
        if pending:
            driver = driver_of(conn)
            async with self._translated(conn, pending[0][0], None), driver.pipeline():
                await _send(driver, pending)

    async def _run(
        self, conn: AsyncConnection, compiled: Compiled, params: Mapping[str, Any] | None
    ) -> Any:
        """Run ``compiled`` (after the deferred writes, with them); its cursor."""
        driver = driver_of(conn)
        args = compiled.parameters(params or {})
        cursor = driver.cursor()
        pending: Deferred = conn.info.pop(_DEFERRED, None) or []
        async with self._translated(conn, compiled.sql, args):
            if not pending and (driver.autocommit or driver.info.transaction_status != _IDLE):
                await cursor.execute(compiled.sql, args, prepare=not compiled.replan)
            else:
                async with driver.pipeline():
                    await _send(driver, pending)
                    await cursor.execute(compiled.sql, args, prepare=not compiled.replan)
        return cursor

    async def _history_rows(
        self, conn: AsyncConnection, wanted: Sequence[tuple[str, int]]
    ) -> tuple[Sequence[Any], Sequence[Any]]:
        found, history = await self._pipelined(conn, self._history_reads(wanted))
        return found, history

    def _history_reads(
        self, wanted: Sequence[tuple[str, int]]
    ) -> list[tuple[Compiled, Mapping[str, Any]]]:
        """The two reads of :meth:`_history_rows` (sent together: one round trip)."""
        ids, seqs = [r for r, _ in wanted], [s for _, s in wanted]
        dialect = self.engine.dialect
        return [
            (RUNS_BY_ID.compiled(dialect), {"ids": sorted(set(ids))}),
            (_HISTORY.compiled(dialect), {"ids": ids, "seqs": seqs}),
        ]

    async def _finish(self, conn: AsyncConnection, tx: Tx) -> None:
        """The deferred writes, the events, the wake-ups, what the transaction reads last
        and the ``COMMIT`` in one round trip; the commit that follows finds nothing left
        to do."""
        await self._flush(conn, tx)
        await self._announce(conn, tx)
        if tx.prefetch:
            wanted = list(tx.prefetch.items())
            found, history = await self._pipelined(
                conn, self._history_reads(wanted), then=[("COMMIT", {}, None)]
            )
            tx.prefetched = (found, history)
            return
        pending: Deferred = conn.info.pop(_DEFERRED, None) or []
        driver = driver_of(conn)
        if pending in ([], [_BEGIN_ENTRY]) and driver.info.transaction_status == _IDLE:
            return  # nothing ran
        async with self._translated(conn, "COMMIT", None), driver.pipeline():
            await _send(driver, [*pending, ("COMMIT", {}, None)])

    async def _tx_began(self, conn: AsyncConnection) -> None:
        # psycopg sends a transaction's BEGIN alone and waits for it: a round trip of its
        # own. Here the driver is in autocommit while the transaction runs, and the BEGIN
        # waits, deferred, for the first statement (any statement sends it first).
        await driver_of(conn).set_autocommit(True)
        conn.info[_DEFERRED] = [_BEGIN_ENTRY]

    async def _tx_ended(self, conn: AsyncConnection) -> None:
        # A transaction that failed leaves none behind, and is rolled back here, so that
        # the driver leaves autocommit before the pool takes the connection back. A
        # connection that cannot (lost, or cancelled mid-statement) is discarded: no
        # later user of the pool may get it in autocommit.
        try:
            conn.info.pop(_DEFERRED, None)
            driver = driver_of(conn)
            if driver.info.transaction_status != _IDLE:
                await driver.rollback()
            await driver.set_autocommit(False)
        except Exception:
            with contextlib.suppress(Exception):
                await conn.invalidate()
        except BaseException:  # cancelled meanwhile: close it now, the pool discards it
            with contextlib.suppress(Exception):
                driver_of(conn).pgconn.finish()
            raise

    async def _pipelined(
        self,
        conn: AsyncConnection,
        statements: Sequence[tuple[Compiled, Mapping[str, Any]]],
        then: Deferred | None = None,
    ) -> list[list[Any]]:
        """Several statements sent together (one round trip), after the deferred writes
        and before ``then`` (whose results are not read); the rows of each."""
        driver = driver_of(conn)
        cursors = []
        pending: Deferred = conn.info.pop(_DEFERRED, None) or []
        async with self._translated(conn, statements[0][0].sql, None), driver.pipeline():
            await _send(driver, pending)
            for compiled, params in statements:
                cursor = driver.cursor()
                await cursor.execute(
                    compiled.sql, compiled.parameters(params), prepare=not compiled.replan
                )
                cursors.append(cursor)
            await _send(driver, then or [])
        return [
            compiled.rows(await cursor.fetchall())
            for (compiled, _), cursor in zip(statements, cursors, strict=True)
        ]

    @contextlib.asynccontextmanager
    async def _translated(
        self, conn: AsyncConnection, sql: str, args: Mapping[str, Any] | None
    ) -> AsyncIterator[None]:
        """The driver's errors raised as SQLAlchemy's; a lost connection is invalidated."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            dialect = self.engine.dialect
            lost = dialect.is_disconnect(exc, None, None)  # type: ignore[arg-type]
            if lost:
                await conn.invalidate()
            raise DBAPIError.instance(
                sql, args, exc, psycopg.Error, dialect=dialect, connection_invalidated=lost
            ) from exc


def _history_statement(_: str) -> Any:
    wanted = (
        func.unnest(
            bindparam("ids", type_=ARRAY(events.c.run_id.type)),
            bindparam("seqs", type_=ARRAY(events.c.seq.type)),
        )
        .table_valued("run_id", "seq")
        .render_derived(name="wanted")
    )
    # Each run's events by its index, whatever the planner makes of the table's size: the
    # OFFSET keeps the subquery from being flattened into a join it may answer by a scan.
    each = (
        select(events)
        .where(events.c.run_id == wanted.c.run_id, events.c.seq > wanted.c.seq)
        .offset(0)
        .lateral("e")
    )
    return select(each).select_from(wanted.join(each, true())).order_by(each.c.run_id, each.c.seq)


_HISTORY = Prepared(_history_statement)
"""The events of each run after its seq: ``unnest`` zips the two arrays."""


async def _send(driver: Any, statements: Deferred) -> None:
    """Queue ``statements`` on ``driver`` (in pipeline mode: sent at its next sync)."""
    for sql, args, result in statements:
        cursor = driver.cursor()
        await cursor.execute(sql, args, prepare=sql not in _UNPREPARED)
        if result is not None:
            result.cursor = cursor


class _Result:
    """The rows of a statement sent with a later round trip (``_fetch_later``)."""

    __slots__ = ("compiled", "cursor", "read", "send")

    def __init__(self, compiled: Compiled, send: Callable[[], Awaitable[None]]) -> None:
        self.compiled = compiled
        self.send = send
        """Sends the statement (with the others deferred) when it was not sent yet."""
        self.cursor: Any = None
        self.read: Sequence[Any] | None = None

    async def rows(self) -> Sequence[Any]:
        """Its rows (sending it first if no round trip took it yet), the same at each call."""
        if self.read is None:
            if self.cursor is None:
                await self.send()
            if self.cursor is None:
                raise RuntimeError(f"a deferred statement was never sent: {self.compiled.sql}")
            self.read = self.compiled.rows(await self.cursor.fetchall())
        return self.read


def _send_before(conn: Any, *_: Any) -> None:
    """``before_cursor_execute``: a statement SQLAlchemy runs goes after the connection's
    deferred writes (run here, from SQLAlchemy's greenlet)."""
    pending: Deferred | None = conn.info.pop(_DEFERRED, None)
    if pending:
        driver = conn.connection.driver_connection

        async def send() -> None:
            async with driver.pipeline():
                await _send(driver, pending)

        _await(send())
