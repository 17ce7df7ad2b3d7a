"""A PostgreSQL server tests may create databases on: the interface, a server given by
URL, waiting until one answers, and fresh databases copied from a template."""

from __future__ import annotations

import abc
import itertools
import secrets
import time
from collections.abc import Callable
from types import TracebackType
from typing import ClassVar, Literal, Self
from urllib.parse import urlsplit, urlunsplit

from turnout.testing.servers._process import (
    DATABASE_URL_ENV,
    ServerError,
    redact_url,
)

__all__ = ["ExternalPostgres", "PostgresDatabases", "PostgresServer", "wait_for_postgres"]


class PostgresServer(abc.ABC):
    """A running PostgreSQL server that tests may create and drop databases on.

    Use as a context manager, or call :meth:`stop` when done.
    """

    kind: ClassVar[str]
    """``external``, ``container`` or ``local``."""

    @property
    @abc.abstractmethod
    def admin_url(self) -> str:
        """URL (``postgresql://...``) of a role that may create and drop databases."""

    def restart(self, *, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """Restart the server process; only :class:`LocalPostgres` supports it."""
        raise ServerError(
            f"restart() needs a throwaway local cluster (LocalPostgres); this server is "
            f"{self.kind!r} ({redact_url(self.admin_url)}). Unset {DATABASE_URL_ENV} and make "
            "initdb/pg_ctl available to run tests that restart PostgreSQL."
        )

    @abc.abstractmethod
    def stop(self) -> None:
        """Release the server: stop what this object started; idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        try:
            where = redact_url(self.admin_url)
        except ServerError:
            where = "(not started)"
        return f"<{type(self).__name__} {where}>"


def wait_for_postgres(
    url: str,
    timeout: float = 30.0,
    *,
    alive: Callable[[], str | None] | None = None,
) -> None:
    """Connect to ``url`` until ``select 1`` answers, at most ``timeout`` seconds.

    ``alive`` may return a reason string when the server is known to have died,
    which stops the wait early. Raises :class:`ServerError` on timeout.
    """
    import psycopg

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
                conn.execute("select 1")
                return
        except psycopg.Error as exc:
            last = exc
        if alive is not None and (dead := alive()) is not None:
            raise ServerError(f"PostgreSQL at {redact_url(url)} stopped: {dead}")
        if time.monotonic() >= deadline:
            raise ServerError(
                f"PostgreSQL at {redact_url(url)} not ready after {timeout:.0f}s: {last}"
            )
        time.sleep(0.1)


class ExternalPostgres(PostgresServer):
    """An existing server given by URL (``TURNOUT_TEST_DATABASE_URL``); never stopped by us."""

    kind = "external"

    def __init__(self, url: str) -> None:
        self._url = url

    @property
    def admin_url(self) -> str:
        """The URL given."""
        return self._url

    def check(self, timeout: float = 5.0) -> Self:
        """Raise :class:`ServerError` unless the server answers within ``timeout`` seconds."""
        wait_for_postgres(self._url, timeout)
        return self

    def stop(self) -> None:
        """Nothing to stop: the server belongs to someone else."""


class PostgresDatabases:
    """Creates fresh, empty databases on a server, fast, by copying a template database.

    :meth:`create_template` makes an empty database (UTF8, C locale) used as the
    template; :meth:`create` copies it (``CREATE DATABASE x TEMPLATE tmpl``);
    :meth:`drop` drops with ``WITH (FORCE)``; :meth:`close` drops the template.
    Names carry a random tag, so several sessions can share one server.
    """

    def __init__(self, admin_url: str, *, prefix: str = "turnout", file_copy: bool = False) -> None:
        """Databases on the server at ``admin_url``, named ``{prefix}_{random tag}_{n}``.

        ``file_copy=True`` copies with ``STRATEGY FILE_COPY`` on PostgreSQL 15+:
        faster than the default ``WAL_LOG`` when ``fsync`` is off (the throwaway
        cluster); on a server with ``fsync`` on, the checkpoints it forces cost more.
        """
        self.admin_url = admin_url
        self._file_copy = file_copy
        self._strategy = ""
        tag = secrets.token_hex(4)
        self._prefix = f"{prefix}_{tag}"
        self._counter = itertools.count(1)
        self.template: str | None = None

    def url_for(self, name: str) -> str:
        """The admin URL pointing at database ``name`` (query options kept)."""
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def _execute(self, statement: str, *names: str) -> int:
        """Run ``statement`` with ``names`` quoted in; return the server version number."""
        import psycopg
        from psycopg import sql

        query = sql.SQL(statement).format(*(sql.Identifier(name) for name in names))
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(query)
            return conn.info.server_version

    def create_template(self) -> str:
        """Create the (empty) template database once; return its name."""
        if self.template is None:
            name = f"{self._prefix}_tmpl"
            version = self._execute(
                "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'",
                name,
            )
            self.template = name
            if self._file_copy and version >= 150000:
                self._strategy = " STRATEGY FILE_COPY"
        return self.template

    def create(self) -> str:
        """Create a fresh database from the template; return its name."""
        template = self.create_template()
        name = f"{self._prefix}_{next(self._counter)}"
        self._execute("CREATE DATABASE {} TEMPLATE {}" + self._strategy, name, template)
        return name

    def drop(self, name: str) -> None:
        """Drop database ``name``, disconnecting its clients (``WITH (FORCE)``)."""
        self._execute("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    def close(self) -> None:
        """Drop the template database."""
        template, self.template = self.template, None
        if template is not None:
            self.drop(template)
