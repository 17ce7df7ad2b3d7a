"""PostgreSQL hooks: ``FOR UPDATE SKIP LOCKED`` claims, ``LISTEN/NOTIFY`` wake-ups, and
batches passed as arrays.

A batch's ids travel as one array parameter (``= ANY(:ids)``, ``unnest``) instead of an
``IN`` list: a statement then has one text whatever the batch size, which the driver
prepares once per connection and PostgreSQL plans once, where every ``IN`` list of a new
length was a new statement, parsed again on both sides."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic_core import from_json
from sqlalchemy import JSON, Text, any_, bindparam, event, func, select, text, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from turnout.executors.internal.migrate import sqlalchemy_url
from turnout.executors.internal.store.base import Store
from turnout.executors.internal.store.claims import FRESH, claim_and_start_statement
from turnout.executors.internal.store.commit_plan import Plan, run_updates
from turnout.executors.internal.store.notify import Notifier, queue_channel, run_channel
from turnout.executors.internal.store.pg_batches import bump_statement, plans_statement
from turnout.executors.internal.store.pg_direct import DirectExecution
from turnout.executors.internal.store.prepared import Prepared
from turnout.executors.internal.store.queue import STARTING
from turnout.executors.internal.store.records import ClaimedItem, RunInfo
from turnout.executors.internal.store.rows import claimed_item
from turnout.executors.internal.store.sql import INFO_COLUMNS
from turnout.executors.internal.store.tx import Later, Tx

__all__ = ["CHANNEL", "PostgresStore"]

CHANNEL = "turnout"
_TEXTS = ARRAY(Text)
_RETRY_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure
_log = logging.getLogger("turnout.store")


def libpq_url(url: str) -> str:
    """``postgresql://...`` for psycopg, whatever driver suffix ``url`` carries."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresStore(DirectExecution, Store):
    """The store on PostgreSQL (production)."""

    dialect = "postgresql"
    supports_listen_notify = True
    supports_skip_locked = True

    def __init__(self, url: str, notifier: Notifier, *, pool_size: int = 10) -> None:
        engine = create_async_engine(
            sqlalchemy_url(url, async_=True),
            # Coroutines beyond pool_size wait for a connection instead of opening (and
            # closing) overflow connections: a new PostgreSQL connection costs far more
            # than the wait. No ping before each checkout (it doubled the transactions
            # per workflow): after a server restart the first statement fails, the pool
            # drops every connection of that generation, and callers retry (workers do).
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=120,
            pool_pre_ping=False,
            # JSON read in Rust: what a JSONB column holds is valid JSON by construction.
            # Only keys go to its process-wide string cache: values (ids, payloads) are
            # mostly unique, and a cached one outlives its row (memory kept, scattered).
            json_deserializer=functools.partial(from_json, cache_strings="keys"),
        )
        event.listen(engine.sync_engine, "connect", _in_utc)
        # Reads run without BEGIN/ROLLBACK around them: at READ COMMITTED each statement
        # sees its own snapshot inside a transaction too, so the round trips bought nothing.
        reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        super().__init__(url, engine, notifier, reader=reader)
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._install_direct()

    def _insert(self, table: Any) -> Any:
        return pg_insert(table)

    def _among(self, column: Any, values: Sequence[Any], filler: Callable[[int], Any]) -> Any:
        return column == any_(_array(column, list(values)))

    def _rows_among(
        self, columns: Sequence[Any], rows: Sequence[tuple[Any, ...]], filler: Callable[[int], Any]
    ) -> Any:
        names = [f"v{i}" for i in range(len(columns))]
        given = (
            func.unnest(*(_array(c, [row[i] for row in rows]) for i, c in enumerate(columns)))
            .table_valued(*names)
            .render_derived()
        )
        return tuple_(*columns).in_(select(*(given.c[name] for name in names)))

    async def _insert_rows(
        self,
        conn: AsyncConnection,
        table: Any,
        rows: Sequence[dict[str, Any]],
        *,
        skip_conflicts: bool = False,
    ) -> None:
        if rows:  # nobody reads what an insert returns: it goes with the next statement
            prepared = _recordset_insert(table, tuple(rows[0]), skip_conflicts)
            self._defer(conn, prepared, {"rows": _json_text(rows)})

    async def _insert_returning_later(
        self, conn: AsyncConnection, table: Any, rows: Sequence[dict[str, Any]]
    ) -> Later:
        if not rows:
            return await super()._insert_returning_later(conn, table, rows)
        prepared = _recordset_insert(table, tuple(rows[0]), False, returning=True)
        later = await self._fetch_later(conn, prepared, {"rows": _json_text(rows)})

        async def stored() -> Sequence[Any]:
            # Ids are drawn in the order of the document's rows.
            return sorted(await later(), key=lambda r: r.id)

        return stored

    async def _claim_starting(
        self,
        conn: AsyncConnection,
        tx: Tx,
        shape: tuple[tuple[str, ...], bool, bool],
        params: dict[str, Any],
        now: datetime,
    ) -> tuple[list[ClaimedItem], list[str]]:
        # The claim and its runs' change of state in one statement: one round trip.
        items, fresh = [], {}
        for row in await self._fetch(conn, claim_and_start_statement(*shape), params):
            items.append(claimed_item(row))
            next_seq = getattr(row, FRESH + "next_seq")
            if next_seq is not None and row.run_id not in fresh:
                info = RunInfo(*(getattr(row, FRESH + c.name) for c in INFO_COLUMNS))
                fresh[row.run_id] = info
                self._appended(tx, info, next_seq, [STARTING], now)
        return items, list(fresh)

    async def _bump_runs(
        self,
        conn: AsyncConnection,
        counts: dict[str, int],
        now: datetime,
        claiming: bool,
        guard: Mapping[str, str],
    ) -> Sequence[Any]:
        ids = sorted(counts)
        params = {"ids": ids, "counts": [counts[r] for r in ids], "now": now, **guard}
        return await self._fetch(conn, bump_statement(claiming, tuple(sorted(guard))), params)

    async def _update_plans(
        self, conn: AsyncConnection, plans: Sequence[Plan], now: datetime
    ) -> Sequence[Any]:
        names, partial, rows = run_updates(plans)
        ids = [p.run.run_id for p in plans]
        params = {"plans": _json_text(rows), "now": now, "ids": ids}
        return await self._fetch(conn, plans_statement(names, partial), params)

    def _retryable(self, exc: DBAPIError) -> bool:
        return getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES

    async def _announce(self, conn: AsyncConnection, tx: Tx) -> None:
        channels = [queue_channel(q) for q in tx.queues] + [run_channel(r) for r in tx.runs]
        channels += sorted(tx.channels)
        if channels:
            self._defer(conn, _NOTIFY, {"channel": CHANNEL, "cs": channels})

    async def start_listening(self) -> None:
        """Start the LISTEN task (idempotent); returns once it listens."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="turnout-listen")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 10)

    async def _listen(self) -> None:
        import psycopg

        backoff = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    libpq_url(self.url), autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    backoff = 0.1
                    self.notifier.wake_all()  # anything missed while (re)connecting
                    async for note in conn.notifies():
                        self.notifier.wake(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("LISTEN connection lost (%s); reconnecting in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await super().close()


def _array(column: Any, values: list[Any]) -> Any:
    """``values`` as one array parameter of ``column``'s type."""
    return bindparam(None, values, type_=ARRAY(column.type))


_NOTIFY = Prepared(
    lambda _: text("SELECT pg_notify(:channel, c) FROM unnest(CAST(:cs AS text[])) AS c")
)


@functools.cache
def _recordset_insert(
    table: Any, names: tuple[str, ...], skip_conflicts: bool, *, returning: bool = False
) -> Prepared:
    """``INSERT INTO table (names) SELECT ... FROM jsonb_to_recordset(:rows)``: rows
    passed as one JSON document (one parameter the driver sends as it is), each value
    cast to its column's type. A JSON column's None is JSON null, as the column's own
    type writes it. With ``returning``, the rows stored come back (every column)."""
    dialect = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
    columns = [table.c[name] for name in names]
    typed = ", ".join(f"{c.name} {c.type.compile(dialect=dialect)}" for c in columns)
    picked = ", ".join(
        f"coalesce(r.{c.name}, 'null'::jsonb)" if isinstance(c.type, JSON) else f"r.{c.name}"
        for c in columns
    )
    conflict = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) "
        f"SELECT {picked} FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({typed}){conflict}"
    )
    if not returning:
        return Prepared(lambda _: text(sql))
    sql += " RETURNING " + ", ".join(c.name for c in table.c)
    return Prepared(lambda _: text(sql).columns(*table.c))


def _in_utc(driver: Any, _: Any) -> None:
    """A new connection's session runs in UTC: the driver then reads timestamps as UTC
    datetimes, which need no conversion (nothing in the store's SQL depends on the
    session's time zone otherwise)."""
    was = driver.autocommit
    driver.autocommit = True
    cursor = driver.cursor()
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.close()
    driver.autocommit = was


def _json_text(rows: Any) -> str:
    """Rows as one JSON document; datetimes in ISO 8601, which PostgreSQL reads back
    exactly. A value JSON cannot carry (a set, bytes, an object) raises ``TypeError``,
    which the store takes as that value's fault. (pydantic-core's encoder, four times as
    fast, writes a set as a list: a value changed instead of refused.)"""
    return json.dumps(rows, default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
