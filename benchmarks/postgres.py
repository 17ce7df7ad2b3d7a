"""The PostgreSQL server of the benchmark, shared in shape by every target that runs on it.

:class:`PostgresPlace` starts a throwaway cluster (or checks ``--database-url``),
makes a template database that a target prepares once (turnout's schema, DBOS's
system tables, Procrastinate's schema) and hands each session a fresh copy of
it, counting the copy's commits (:class:`Commits`) until it is dropped.
``internal-postgres``, ``dbos`` and ``procrastinate`` all run on one of these,
with the same server settings, so their figures compare.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Commits", "PostgresPlace"]


@dataclass
class Commits:
    """``pg_stat_database.xact_commit`` of one database, read through ``admin_url``."""

    admin_url: str
    database: str
    before: int = 0

    def _query(self, sql: str) -> Any:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(sql, (self.database,)).fetchone()
            return row[0] if row else None

    def read(self) -> int:
        """The database's commit count now."""
        value = self._query("SELECT xact_commit FROM pg_stat_database WHERE datname = %s")
        return int(value or 0)

    def backends(self) -> int:
        """Connections open to the database now."""
        value = self._query("SELECT count(*) FROM pg_stat_activity WHERE datname = %s")
        return int(value or 0)

    def settle(self, timeout: float = 15.0) -> int:
        """The commit count once every backend of the database has exited (and flushed)."""
        deadline = time.monotonic() + timeout
        while self.backends() and time.monotonic() < deadline:
            time.sleep(0.05)
        last = self.read()
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.read()
            if now == last:
                return now
            last = now
        return last


class PostgresPlace:
    """A PostgreSQL server and fresh databases on it: a throwaway local cluster (in
    ``/dev/shm`` with ``fsync`` off, or on disk with it on when ``durable``), or the
    server at ``database_url``."""

    def __init__(self, *, database_url: str | None = None, durable: bool = False) -> None:
        self._url = database_url
        self._durable = durable
        self._server: Any = None
        self._dbs: Any = None
        self.version = ""

    async def start(self, prepare: Callable[[str], None], *, prefix: str) -> None:
        """Start (or check) the server and make the template; ``prepare(url)`` fills it."""
        from turnout.testing.servers import ExternalPostgres, LocalPostgres, PostgresDatabases

        if self._url:
            self._server = ExternalPostgres(self._url).check()
        else:
            settings: dict[str, str] = {}
            base_dir: str | None = None
            if self._durable:
                settings = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
                base_dir = tempfile.gettempdir()
            self._server = await asyncio.to_thread(
                LocalPostgres(settings=settings, base_dir=base_dir).start
            )
        self._dbs = PostgresDatabases(
            self._server.admin_url, prefix=prefix, file_copy=not self._url
        )
        template = await asyncio.to_thread(self._dbs.create_template)
        await asyncio.to_thread(prepare, self._dbs.url_for(template))
        self.version = await asyncio.to_thread(self._server_version)

    def _server_version(self) -> str:
        import psycopg

        with psycopg.connect(self._server.admin_url, autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            fsync = conn.execute("SHOW fsync").fetchone()
            return f"{row[0] if row else '?'} (fsync={fsync[0] if fsync else '?'})"

    async def stop(self) -> None:
        """Drop the template and stop the server (if this object started it)."""
        try:
            if self._dbs is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._dbs.close)
            if self._server is not None:
                await asyncio.to_thread(self._server.stop)
        finally:
            self._server = self._dbs = None

    def describe(self) -> dict[str, Any]:
        """The server: kind, version and durability (for the result file)."""
        return {
            "database": "postgresql",
            "server": getattr(self._server, "kind", "?"),
            "version": self.version,
            "durable": self._durable or bool(self._url),
        }

    def server_pids(self) -> list[int]:
        """The postmaster's process id (a local cluster only)."""
        data_dir = getattr(self._server, "data_dir", None)
        if data_dir is None:
            return []
        try:
            return [int((Path(data_dir) / "postmaster.pid").read_text().split("\n", 1)[0])]
        except (OSError, ValueError):
            return []

    async def create(self) -> tuple[str, Commits]:
        """A fresh copy of the template: its URL and its commit counter (started)."""
        name = await asyncio.to_thread(self._dbs.create)
        commits = Commits(self._server.admin_url, name)
        commits.before = await asyncio.to_thread(commits.read)
        return self._dbs.url_for(name), commits

    async def drop(self, commits: Commits) -> int:
        """Drop the database of ``commits`` once its backends are gone; return the commits
        it made since :meth:`create`."""
        try:
            after = await asyncio.to_thread(commits.settle)
            return after - commits.before
        finally:
            await asyncio.to_thread(self._dbs.drop, commits.database)
