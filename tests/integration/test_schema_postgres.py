"""The schema on a real PostgreSQL: create_schema, migrations, shipped DDL, concurrent boots.

A database made by ``create_schema`` (``metadata.create_all``), one made by
``migrate`` and one made by the shipped ``ddl/postgresql.sql`` must be the same,
down to CHECK constraints and the WHERE of partial indexes, as PostgreSQL itself
prints them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from turnout.contracts.errors import ConfigurationError
from turnout.executors.internal.migrate import (
    VERSION_TABLE,
    create_schema,
    create_schema_async,
    create_schema_on,
    current_revision,
    ddl_path,
    make_async_engine,
    make_engine,
    migrate,
)
from turnout.executors.internal.schema import SCHEMA_REVISION, metadata
from turnout.testing import PostgresDatabases

TABLES = {*metadata.tables, VERSION_TABLE}
WRITES = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE")

Snapshot = dict[str, list[tuple[Any, ...]]]


@pytest.fixture
def other_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """A second fresh database, to compare with ``postgres_url``'s."""
    name = postgres_databases.create()
    try:
        yield postgres_databases.url_for(name)
    finally:
        postgres_databases.drop(name)


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return sorted(conn.execute(sql).fetchall())


def _snapshot(url: str) -> Snapshot:
    """Tables, columns, constraints and indexes of the public schema, as PostgreSQL prints them."""
    return {
        "tables": _query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"),
        "columns": _query(
            url,
            "SELECT table_name, column_name, ordinal_position, data_type,"
            " character_maximum_length, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = 'public'",
        ),
        "constraints": _query(
            url,
            "SELECT c.conrelid::regclass::text, c.conname, c.contype,"
            " pg_get_constraintdef(c.oid)"
            " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
            " WHERE n.nspname = 'public'",
        ),
        "indexes": _query(
            url,
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
        ),
    }


def _check_constraints(url: str) -> dict[str, list[Any]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            return {
                table: sorted(inspector.get_check_constraints(table), key=lambda c: str(c["name"]))
                for table in sorted(metadata.tables)
            }
    finally:
        engine.dispose()


def _schema_diff(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "version_table": VERSION_TABLE,
                },
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


@contextmanager
def _statements(engine: sa.Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def test_create_schema_twice_is_a_no_op_the_second_time(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        with _statements(engine) as first, engine.connect() as conn:
            create_schema_on(conn)
        assert any(s.lstrip().startswith("CREATE TABLE") for s in first)
        after_first = _snapshot(postgres_url)
        assert {row[0] for row in after_first["tables"]} == TABLES

        with _statements(engine) as second, engine.connect() as conn:
            create_schema_on(conn)
        assert [s for s in second if s.lstrip().upper().startswith(WRITES)] == []
    finally:
        engine.dispose()
    assert _snapshot(postgres_url) == after_first
    assert current_revision(postgres_url) == SCHEMA_REVISION


def test_migrated_database_equals_the_metadata(postgres_url: str, other_url: str) -> None:
    create_schema(postgres_url)
    migrate(other_url)

    assert current_revision(other_url) == SCHEMA_REVISION
    assert _schema_diff(other_url) == []
    # Alembic compares neither CHECK constraints nor the WHERE of partial indexes.
    assert _check_constraints(other_url) == _check_constraints(postgres_url)
    created, migrated = _snapshot(postgres_url), _snapshot(other_url)
    assert migrated["indexes"] == created["indexes"]
    assert any(" WHERE " in row[2] for row in created["indexes"])
    assert migrated == created


def test_shipped_ddl_makes_the_same_database_as_create_schema(
    postgres_url: str, other_url: str
) -> None:
    create_schema(postgres_url)
    with psycopg.connect(other_url) as conn:
        conn.execute(ddl_path("postgresql").read_text(encoding="utf-8").encode())
    assert _snapshot(other_url) == _snapshot(postgres_url)
    assert current_revision(other_url) == SCHEMA_REVISION
    create_schema(other_url)


def test_create_schema_from_two_threads_at_once(postgres_url: str) -> None:
    barrier = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def boot() -> None:
        try:
            barrier.wait()
            create_schema(postgres_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=boot) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert current_revision(postgres_url) == SCHEMA_REVISION
    assert _query(postgres_url, f"SELECT version_num FROM {VERSION_TABLE}") == [(SCHEMA_REVISION,)]
    assert _schema_diff(postgres_url) == []


async def test_create_schema_async(postgres_url: str) -> None:
    engine = make_async_engine(postgres_url)
    try:
        await create_schema_async(engine)
        await create_schema_async(engine)
    finally:
        await engine.dispose()
    assert {row[0] for row in _snapshot(postgres_url)["tables"]} == TABLES
    assert current_revision(postgres_url) == SCHEMA_REVISION


def test_an_unknown_revision_stops_boot(postgres_url: str) -> None:
    create_schema(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = '9999_future'")
    with pytest.raises(ConfigurationError, match=r"'9999_future'.*upgrade turnout"):
        create_schema(postgres_url)
