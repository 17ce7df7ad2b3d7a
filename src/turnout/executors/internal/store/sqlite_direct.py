"""SQLite: the store's built-once statements run straight on the ``sqlite3`` connection.

A statement built once (``prepared.py``) runs on the transaction's own connection (the
``aiosqlite`` one SQLAlchemy holds, whose thread runs ``sqlite3``), without SQLAlchemy's
execution context and result objects; a many-row insert is one ``executemany`` of a
statement built once per table and columns. The writer discipline of ``sqlite.py``
(``BEGIN IMMEDIATE``, one writer of a process at a time) is untouched: these run inside
the transactions it opens. The driver's errors are raised as SQLAlchemy's, as its own
execution raises them.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.executors.internal.store.prepared import Compiled, Prepared
from turnout.executors.internal.store.tx import Later, StoreTransactions, read_already

__all__ = ["SqliteDirect", "translated"]


class SqliteDirect(StoreTransactions):
    """The execution hooks of ``tx.py`` on ``sqlite3`` directly."""

    async def _fetch(
        self, conn: AsyncConnection, prepared: Prepared, params: Mapping[str, Any] | None = None
    ) -> Sequence[Any]:
        compiled = prepared.compiled(self.engine.dialect)
        args = _positional(compiled, params)
        with self._translated(compiled.sql, args):
            rows = await _driver(conn).execute_fetchall(compiled.sql, args)  # one hop
        return compiled.rows(rows)

    async def _write(
        self, conn: AsyncConnection, prepared: Prepared, params: Mapping[str, Any] | None = None
    ) -> int:
        compiled = prepared.compiled(self.engine.dialect)
        args = _positional(compiled, params)
        with self._translated(compiled.sql, args):
            cursor = await _driver(conn).execute(compiled.sql, args)
        return int(cursor.rowcount)

    async def _insert_rows(
        self,
        conn: AsyncConnection,
        table: Any,
        rows: Sequence[dict[str, Any]],
        *,
        skip_conflicts: bool = False,
    ) -> None:
        if not rows:
            return
        names = tuple(rows[0])
        compiled = _insert(table, names, skip_conflicts).compiled(self.engine.dialect)
        many = [_positional(compiled, {f"v_{k}": v for k, v in row.items()}) for row in rows]
        with self._translated(compiled.sql, many):
            await _driver(conn).executemany(compiled.sql, many)

    async def _insert_returning_later(
        self, conn: AsyncConnection, table: Any, rows: Sequence[dict[str, Any]]
    ) -> Later:
        stored: list[Any] = []
        (key,) = table.primary_key.columns
        for at in range(0, len(rows), _RETURNING_ROWS):
            chunk = rows[at : at + _RETURNING_ROWS]
            prepared = _insert_returning(table, tuple(chunk[0]), len(chunk))
            params = {f"v{i}_{k}": v for i, row in enumerate(chunk) for k, v in row.items()}
            # SQLite returns the rows in no set order; it numbers them in VALUES order.
            found = await self._fetch(conn, prepared, params)
            stored += sorted(found, key=lambda row: getattr(row, key.name))
        return read_already(stored)

    def _translated(self, sql: str, args: Any) -> contextlib.AbstractContextManager[None]:
        return translated(sql, args, self.engine.dialect)


@contextlib.contextmanager
def translated(sql: str, args: Any, dialect: Any) -> Iterator[None]:
    """The driver's errors raised as SQLAlchemy's (``database is locked``: an
    ``OperationalError`` the transaction helper retries)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, args, exc, sqlite3.Error, dialect=dialect) from exc


def _driver(conn: AsyncConnection) -> Any:
    return conn.sync_connection.connection.driver_connection  # type: ignore[union-attr]


def _positional(compiled: Compiled, params: Mapping[str, Any] | None) -> list[Any]:
    """``params`` converted, in the order of the statement's ``?`` placeholders."""
    values = compiled.parameters(params or {})
    return [values.get(name) for name in compiled.names]


_RETURNING_ROWS = 16
"""Rows per ``INSERT ... VALUES (...), ... RETURNING``: a statement is built for each
count up to this, once."""


@functools.cache
def _insert_returning(table: Any, names: tuple[str, ...], count: int) -> Prepared:
    """``INSERT INTO table (names) VALUES (...) x count RETURNING *``, row ``i``'s values
    ``v<i>_<name>``."""

    def build(_: str) -> Any:
        values = [
            {n: bindparam(f"v{i}_{n}", type_=table.c[n].type) for n in names} for i in range(count)
        ]
        return sqlite_insert(table).values(values).returning(*table.c)

    return Prepared(build)


@functools.cache
def _insert(table: Any, names: tuple[str, ...], skip_conflicts: bool) -> Prepared:
    """``INSERT INTO table (names) VALUES (?, ...)``, each value ``v_<name>``."""

    def build(_: str) -> Any:
        stmt = sqlite_insert(table).values(
            {n: bindparam(f"v_{n}", type_=table.c[n].type) for n in names}
        )
        return stmt.on_conflict_do_nothing() if skip_conflicts else stmt

    return Prepared(build)
