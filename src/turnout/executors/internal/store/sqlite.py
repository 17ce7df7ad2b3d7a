"""SQLite hooks: WAL, a busy timeout, ``BEGIN IMMEDIATE`` for every writing transaction.

``BEGIN IMMEDIATE`` takes the database's write lock before the first read, so
two worker processes on one file can never both claim the same item: the
second waits (busy timeout) and then sees the first one's claim.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from turnout.executors.internal.store.base import Store
from turnout.executors.internal.store.notify import Notifier

__all__ = ["SqliteStore"]

BUSY_TIMEOUT_MS = 30_000


def _engine(url: str, begin: str) -> AsyncEngine:
    async_url = make_url(url).set(drivername="sqlite+aiosqlite")
    engine = create_async_engine(async_url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN below decide transactions, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


class SqliteStore(Store):
    """The store on one SQLite file (local development, tests, single node)."""

    dialect = "sqlite"
    supports_listen_notify = False

    def __init__(self, url: str, notifier: Notifier) -> None:
        super().__init__(
            url,
            _engine(url, "BEGIN IMMEDIATE"),
            notifier,
            reader=_engine(url, "BEGIN"),
        )

    def _insert(self, table: Any) -> Any:
        return sqlite_insert(table)
