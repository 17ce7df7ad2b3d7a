"""Create, stamp and migrate the internal store's schema; render its DDL; build its engines.

Everything here derives from :data:`turnout.executors.internal.schema.metadata`.
:func:`create_schema` is meant to run on every boot: it creates what is missing
and records the schema revision in its own Alembic version table
(:data:`VERSION_TABLE`, so it never meets an application's ``alembic_version``).
A database at an older revision is never patched over: boot fails and asks for
``turnout schema migrate``, which runs :func:`migrate` (Alembic, with the
revisions under ``migrations/``).

Several processes may boot at once. On PostgreSQL a transaction-scoped advisory
lock serializes schema work; on SQLite the engines built by :func:`make_engine`
open every transaction with ``BEGIN IMMEDIATE``, which serializes writers.

Run ``python -m turnout.executors.internal.migrate --write-ddl`` after a schema
change to regenerate the DDL files shipped under ``ddl/``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.schema import CreateIndex, CreateTable

from turnout.contracts.errors import ConfigurationError
from turnout.executors.internal.schema import SCHEMA_REVISION, metadata

__all__ = [
    "DDL_DIR",
    "MIGRATIONS_DIR",
    "SCHEMA_LOCK_KEY",
    "SQLITE_BUSY_TIMEOUT_S",
    "VERSION_TABLE",
    "alembic_config",
    "check_database",
    "create_schema",
    "create_schema_async",
    "create_schema_on",
    "current_revision",
    "database_dialect",
    "ddl",
    "ddl_path",
    "make_async_engine",
    "make_engine",
    "migrate",
    "schema_lock",
    "sqlalchemy_url",
]

VERSION_TABLE = "turnout_alembic_version"
"""Alembic version table of turnout's schema (apart from any ``alembic_version`` of the app)."""

SCHEMA_LOCK_KEY = 0x7475726E6F7574
"""PostgreSQL advisory lock key taken while the schema is created or migrated (b"turnout")."""

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
"""Alembic ``script_location`` of turnout's schema."""

DDL_DIR = Path(__file__).with_name("ddl")
"""Where the generated ``postgresql.sql`` and ``sqlite.sql`` live."""

SQLITE_BUSY_TIMEOUT_S = 30
"""How long a SQLite connection waits for another process's write lock before failing."""

_DIALECTS: dict[str, type[Dialect]] = {
    "postgresql": postgresql.dialect,
    "sqlite": sqlite.dialect,
}

_MIGRATE_HINT = "run `turnout schema migrate` to upgrade it"


# --- URLs and engines -------------------------------------------------------------------


_ACCEPTED_URLS = "postgresql://user:pass@host:5432/db or sqlite:///path/to/file.db"


def database_dialect(url: str) -> str:
    """``postgresql`` or ``sqlite`` for a database URL, or raise ConfigurationError.

    The URL as SQLAlchemy reads it; ``turnout.config.database_dialect`` checks the
    setting the same way without SQLAlchemy (a unit test keeps the two in step).
    """
    try:
        parsed: URL = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"TURNOUT_DATABASE_URL {url!r} is not a database URL; use {_ACCEPTED_URLS}"
        ) from exc
    backend = parsed.get_backend_name()
    if backend in {"postgresql", "postgres"}:
        return "postgresql"
    if backend == "sqlite":
        return "sqlite"
    raise ConfigurationError(
        f"TURNOUT_DATABASE_URL uses {backend!r}, which turnout does not support; "
        f"use {_ACCEPTED_URLS}"
    )


def sqlalchemy_url(url: str, *, async_: bool = False) -> str:
    """The SQLAlchemy URL, with turnout's driver, for a ``postgresql://`` or ``sqlite:///`` URL.

    PostgreSQL goes through psycopg 3 (``postgresql+psycopg``, sync and async
    alike); SQLite through the standard ``sqlite3`` module, or ``aiosqlite`` when
    ``async_`` is true. A URL naming another driver raises ConfigurationError.
    """
    dialect = database_dialect(url)
    parsed = make_url(url)
    driver = parsed.drivername.partition("+")[2]
    if dialect == "postgresql":
        if driver not in {"", "psycopg"}:
            raise ConfigurationError(
                f"database URL driver {parsed.drivername!r} is not supported; turnout talks to "
                "PostgreSQL through psycopg 3: use postgresql://user:pass@host:5432/db "
                "(install turnout[postgres])"
            )
        drivername = "postgresql+psycopg"
    else:
        if driver not in {"", "pysqlite", "aiosqlite"}:
            raise ConfigurationError(
                f"database URL driver {parsed.drivername!r} is not supported; "
                "use sqlite:///path/to/file.db"
            )
        drivername = "sqlite+aiosqlite" if async_ else "sqlite"
    return parsed.set(drivername=drivername).render_as_string(hide_password=False)


def _sqlite_enable_wal(cursor: Any) -> None:
    # WAL is a property of the file, set once. Switching to it needs an exclusive
    # lock, and SQLite answers "database is locked" at once, without waiting
    # busy_timeout, when another connection opening the same new file holds one.
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.fetchall()
            return
        except Exception as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Take transaction control away from the sqlite3 module (which never BEGINs
    # before DDL or SELECT); _sqlite_on_begin emits the BEGIN instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        _sqlite_enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    # Take the write lock up front: a transaction that reads and then writes
    # can then never fail with SQLITE_BUSY half-way; others wait busy_timeout.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_events(engine: Engine) -> None:
    event.listen(engine, "connect", sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)


def _engine_options(url: str, options: dict[str, Any]) -> dict[str, Any]:
    if database_dialect(url) == "sqlite":
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, **options.pop("connect_args", {})}
        options["connect_args"] = connect_args
    return options


def make_engine(url: str, **options: Any) -> Engine:
    """A sync engine for a ``postgresql://`` or ``sqlite:///`` URL.

    SQLite connections run in WAL mode with a 30 s busy timeout, foreign keys
    on and ``synchronous=NORMAL``; every transaction starts with ``BEGIN
    IMMEDIATE`` (DDL included, unlike the ``sqlite3`` module's default).
    ``options`` go to :func:`sqlalchemy.create_engine`. Dispose of the engine
    when done.
    """
    engine = create_engine(sqlalchemy_url(url), **_engine_options(url, options))
    if engine.dialect.name == "sqlite":
        _sqlite_events(engine)
    return engine


def make_async_engine(url: str, **options: Any) -> AsyncEngine:
    """The asyncio counterpart of :func:`make_engine` (psycopg 3 or aiosqlite)."""
    engine = create_async_engine(sqlalchemy_url(url, async_=True), **_engine_options(url, options))
    if engine.dialect.name == "sqlite":
        _sqlite_events(engine.sync_engine)
    return engine


# --- Alembic ------------------------------------------------------------------------------


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for turnout's migrations, built in code (no ``alembic.ini``).

    With ``connection``, the migrations run on it, inside its transaction;
    without, ``sqlalchemy.url`` must be set on the config before running a command.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("version_table", VERSION_TABLE)
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _migration_context(connection: Connection) -> MigrationContext:
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})


def schema_lock(connection: Connection) -> None:
    """Wait for, then hold until the transaction ends, the lock on schema changes.

    On PostgreSQL this is ``pg_advisory_xact_lock(SCHEMA_LOCK_KEY)``; the
    connection must be in a transaction (not AUTOCOMMIT). On SQLite it does
    nothing: the ``BEGIN IMMEDIATE`` of :func:`make_engine`'s engines already
    holds the database's write lock.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})


def _revision_error(found: str) -> ConfigurationError:
    script = _script_directory()
    try:
        older = found in {r.revision for r in script.iterate_revisions(SCHEMA_REVISION, "base")}
    except CommandError:
        older = False
    if older:
        return ConfigurationError(
            f"the turnout database schema is at revision {found!r}, this version of turnout "
            f"expects {SCHEMA_REVISION!r}; {_MIGRATE_HINT}"
        )
    return ConfigurationError(
        f"the turnout database schema is at revision {found!r}, which this version of turnout "
        f"(expecting {SCHEMA_REVISION!r}) does not know; it was probably migrated by a newer "
        f"turnout: upgrade turnout (table {VERSION_TABLE} holds the revision)"
    )


def _create_schema(connection: Connection) -> None:
    schema_lock(connection)
    context = _migration_context(connection)
    found = context.get_current_revision()
    if found is not None and found != SCHEMA_REVISION:
        raise _revision_error(found)
    metadata.create_all(connection, checkfirst=True)
    if found is None:
        context.stamp(_script_directory(), SCHEMA_REVISION)


def create_schema_on(connection: Connection) -> None:
    """Create what is missing of the schema on ``connection`` and stamp its revision.

    Idempotent and safe to run from several processes at once (see
    :func:`schema_lock`). Runs inside the connection's transaction if one is
    open (the caller commits), else in its own. A database stamped at another
    revision than :data:`~turnout.executors.internal.schema.SCHEMA_REVISION`
    raises :class:`ConfigurationError` and is left untouched.
    """
    if connection.in_transaction():
        _create_schema(connection)
        return
    with connection.begin():
        _create_schema(connection)


def create_schema(url: str) -> None:
    """:func:`create_schema_on` for a ``postgresql://`` or ``sqlite:///`` URL."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            _create_schema(connection)
    finally:
        engine.dispose()


async def create_schema_async(engine: AsyncEngine) -> None:
    """:func:`create_schema_on` through an async engine, in a transaction of its own."""
    async with engine.begin() as connection:
        await connection.run_sync(_create_schema)


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (the newest by default) with Alembic, in one transaction.

    An empty database gets every revision from the baseline up; one made by
    :func:`create_schema` is already stamped and only gets the newer revisions.
    """
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database's schema is stamped at, or None when it has none."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return _migration_context(connection).get_current_revision()
    finally:
        engine.dispose()


async def check_database(store: Any, timeout: float) -> dict[str, str]:
    """The readiness checks of a store's database: ``database`` (it answers within
    ``timeout`` seconds) and, when it does, ``schema`` (at this turnout's revision). Each
    is "ok" or what was found instead."""
    checks: dict[str, str] = {}
    revision: str | None = None
    try:
        async with asyncio.timeout(timeout), store.reader.connect() as conn:
            revision = (
                await conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
            ).scalar()
        checks["database"] = "ok"
    except TimeoutError:
        checks["database"] = f"unreachable: no answer within {timeout:g}s"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}: {_first_line(exc)}"
    if checks["database"] == "ok":
        checks["schema"] = (
            "ok"
            if revision == SCHEMA_REVISION
            else f"at revision {revision}, expected {SCHEMA_REVISION}: run `turnout schema migrate`"
        )
    return checks


def _first_line(exc: BaseException) -> str:
    found = str(exc).strip()
    return found.splitlines()[0] if found else ""


# --- DDL ----------------------------------------------------------------------------------

_version_table = Table(
    VERSION_TABLE,
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
)


def ddl(dialect: str) -> str:
    """The whole CREATE script of the schema for ``"postgresql"`` or ``"sqlite"``.

    Tables in dependency order, each followed by its indexes (by name), then the
    Alembic version table stamped at the schema's revision, so that a database
    made from this script upgrades with ``turnout schema migrate`` like any other.
    The output is deterministic; the files under ``ddl/`` are this text.
    """
    try:
        target = _DIALECTS[dialect]()
    except KeyError:
        raise ValueError(
            f"no DDL for dialect {dialect!r}; choose one of {sorted(_DIALECTS)}"
        ) from None

    def render(element: Any) -> str:
        lines = str(element.compile(dialect=target)).strip().splitlines()
        return "\n".join(line.rstrip() for line in lines) + ";"

    statements: list[str] = []
    for table in metadata.sorted_tables:
        statements.append(render(CreateTable(table)))
        statements.extend(
            render(CreateIndex(index)) for index in sorted(table.indexes, key=lambda i: str(i.name))
        )
    statements.append(render(CreateTable(_version_table)))
    statements.append(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES ('{SCHEMA_REVISION}');")
    header = (
        f"-- turnout schema for {dialect}, revision {SCHEMA_REVISION}.\n"
        "-- Generated from turnout.executors.internal.schema; do not edit. Regenerate with:\n"
        "--   python -m turnout.executors.internal.migrate --write-ddl\n"
    )
    return header + "\n" + "\n\n".join(statements) + "\n"


def ddl_path(dialect: str) -> Path:
    """The shipped DDL file of ``dialect``."""
    return DDL_DIR / f"{dialect}.sql"


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m turnout.executors.internal.migrate",
        description="Maintain the DDL files generated from turnout's schema.",
    )
    parser.add_argument(
        "--write-ddl", action="store_true", help=f"rewrite the .sql files under {DDL_DIR}"
    )
    args = parser.parse_args(argv)
    if not args.write_ddl:
        parser.print_help()
        return 2
    DDL_DIR.mkdir(exist_ok=True)
    for dialect in sorted(_DIALECTS):
        path = ddl_path(dialect)
        path.write_text(ddl(dialect), encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
