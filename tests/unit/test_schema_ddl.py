"""The schema on SQLite: shipped DDL, create_schema, Alembic migrations, revision checks.

Every way of making the schema (``create_schema``, ``migrate``, the shipped DDL
script) must give the same database as ``schema.metadata``.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from turnout.contracts.errors import ConfigurationError
from turnout.executors.internal import migrate as migrate_module
from turnout.executors.internal.migrate import (
    VERSION_TABLE,
    alembic_config,
    create_schema,
    create_schema_async,
    create_schema_on,
    current_revision,
    ddl,
    ddl_path,
    make_async_engine,
    make_engine,
    migrate,
    sqlalchemy_url,
)
from turnout.executors.internal.schema import SCHEMA_REVISION, metadata

REGENERATE = "python -m turnout.executors.internal.migrate --write-ddl"
TABLES = {*metadata.tables, VERSION_TABLE}
WRITES = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE")


def _url(path: Path) -> str:
    return f"sqlite:///{path.as_posix()}"


def _master(path: Path) -> list[tuple[str, str, str, str | None]]:
    """Every table and index of the database file, with the SQL that made it (its
    whitespace collapsed: a column added by ALTER TABLE shares its line with the one
    before)."""
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchall()
    return sorted((*row[:3], " ".join(row[3].split()) if row[3] else None) for row in rows)


def _trimmed(rows: list[tuple[str, str, str, str | None]]) -> list[tuple[str, ...]]:
    return [
        (*row[:3], "\n".join(line.rstrip() for line in (row[3] or "").splitlines())) for row in rows
    ]


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
    """The SQL statements ``engine`` runs inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


# --- the shipped DDL --------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_shipped_ddl_is_generated_from_the_metadata(dialect: str) -> None:
    path = ddl_path(dialect)
    assert path.is_file(), f"{path} is missing; generate it with `{REGENERATE}`"
    assert path.read_text(encoding="utf-8") == ddl(dialect), (
        f"{path} is out of date with turnout.executors.internal.schema; "
        f"regenerate it with `{REGENERATE}`"
    )


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_ddl_names_its_source_and_revision(dialect: str) -> None:
    text = ddl(dialect)
    header = text.split("\n\n", 1)[0]
    assert "turnout.executors.internal.schema" in header
    assert SCHEMA_REVISION in header
    assert ddl(dialect) == text
    for table in metadata.tables.values():
        assert f"CREATE TABLE {table.name} (" in text
        for index in table.indexes:
            assert f"INDEX {index.name} ON {table.name} " in text
    assert f"INSERT INTO {VERSION_TABLE} (version_num) VALUES ('{SCHEMA_REVISION}');" in text


def test_ddl_of_an_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="mysql"):
        ddl("mysql")


def test_shipped_ddl_makes_the_same_database_as_create_schema(tmp_path: Path) -> None:
    created, scripted = tmp_path / "created.db", tmp_path / "scripted.db"
    create_schema(_url(created))
    with closing(sqlite3.connect(scripted)) as conn:
        conn.executescript(ddl_path("sqlite").read_text(encoding="utf-8"))
    # The shipped script has no trailing blanks; SQLite keeps the SQL as it was sent.
    assert _trimmed(_master(scripted)) == _trimmed(_master(created))
    assert current_revision(_url(scripted)) == SCHEMA_REVISION
    create_schema(_url(scripted))  # a database made from the script boots as is


# --- create_schema ----------------------------------------------------------------------


def test_create_schema_twice_is_a_no_op_the_second_time(tmp_path: Path) -> None:
    path = tmp_path / "turnout.db"
    engine = make_engine(_url(path))
    try:
        with _statements(engine) as first, engine.connect() as conn:
            create_schema_on(conn)
        assert any(s.lstrip().startswith("CREATE TABLE") for s in first)
        after_first = _master(path)
        assert {name for kind, name, _, _ in after_first if kind == "table"} == TABLES

        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO turnout_tasks (task_id, workflow_id, workflow_type, task_queue,"
                    " input, correlation_id, requested_at)"
                    " VALUES ('t1', 'w1', 'Greet', 'q', '[]', 'c1', '2026-01-01 00:00:00')"
                )
            )
        with _statements(engine) as second, engine.connect() as conn:
            create_schema_on(conn)
        assert [s for s in second if s.lstrip().upper().startswith(WRITES)] == []

        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT count(*) FROM turnout_tasks")) == 1
    finally:
        engine.dispose()
    assert _master(path) == after_first
    assert current_revision(_url(path)) == SCHEMA_REVISION


def test_create_schema_on_uses_the_callers_transaction(tmp_path: Path) -> None:
    path = tmp_path / "turnout.db"
    engine = make_engine(_url(path))
    try:
        with engine.connect() as conn:
            conn.begin()
            create_schema_on(conn)
            conn.rollback()
        assert _master(path) == []
    finally:
        engine.dispose()


def test_create_schema_from_two_threads_at_once(tmp_path: Path) -> None:
    url = _url(tmp_path / "turnout.db")
    barrier = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def boot() -> None:
        try:
            barrier.wait()
            create_schema(url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=boot) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert current_revision(url) == SCHEMA_REVISION
    assert _schema_diff(url) == []


async def test_create_schema_async(tmp_path: Path) -> None:
    path = tmp_path / "turnout.db"
    engine = make_async_engine(_url(path))
    try:
        await create_schema_async(engine)
        await create_schema_async(engine)
    finally:
        await engine.dispose()
    assert {name for kind, name, _, _ in _master(path) if kind == "table"} == TABLES
    assert current_revision(_url(path)) == SCHEMA_REVISION


# --- migrations -------------------------------------------------------------------------


def test_migrations_head_is_the_schema_revision() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [SCHEMA_REVISION]


def test_migrated_database_equals_the_metadata(tmp_path: Path) -> None:
    created, migrated = tmp_path / "created.db", tmp_path / "migrated.db"
    create_schema(_url(created))
    migrate(_url(migrated))

    assert current_revision(_url(migrated)) == SCHEMA_REVISION
    assert _schema_diff(_url(migrated)) == []
    # Alembic does not compare CHECK constraints nor the WHERE of partial indexes:
    # compare the databases' own SQL, and the CHECKs with the metadata's.
    assert _master(migrated) == _master(created)
    checks = _check_constraints(_url(migrated))
    assert checks == _check_constraints(_url(created))
    for name, table in metadata.tables.items():
        expected = {str(c.sqltext) for c in table.constraints if isinstance(c, sa.CheckConstraint)}
        assert {c["sqltext"] for c in checks[name]} == expected, name

    # The comparison does see a difference when there is one.
    with closing(sqlite3.connect(migrated)) as conn:
        conn.execute("DROP INDEX ix_turnout_queue_items_ready")
    assert _schema_diff(_url(migrated)) != []


def test_migrate_on_a_created_database_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "turnout.db"
    create_schema(_url(path))
    before = _master(path)
    migrate(_url(path))
    assert _master(path) == before


def test_baseline_downgrades_to_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "turnout.db"
    migrate(_url(path))
    engine = make_engine(_url(path))
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
    finally:
        engine.dispose()
    assert [name for _, name, _, _ in _master(path)] == [VERSION_TABLE]
    assert current_revision(_url(path)) is None


# --- revision checks --------------------------------------------------------------------

NEXT_REVISION = '''"""A revision after the current head (test only)."""

from alembic import op

revision = "0099_test"
down_revision = "HEAD"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_test_tasks_correlation_id", "turnout_tasks", ["correlation_id"])


def downgrade() -> None:
    op.drop_index("ix_test_tasks_correlation_id", table_name="turnout_tasks")
'''


def test_an_older_revision_stops_boot_until_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "turnout.db"
    url = _url(path)
    create_schema(url)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TABLE turnout_artifacts")
    before = _master(path)

    # This turnout's code now expects a revision the database does not have yet.
    migrations = tmp_path / "migrations"
    shutil.copytree(
        migrate_module.MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__")
    )
    (migrations / "versions" / "0099_test.py").write_text(
        NEXT_REVISION.replace("HEAD", SCHEMA_REVISION), encoding="utf-8"
    )
    monkeypatch.setattr(migrate_module, "MIGRATIONS_DIR", migrations)
    monkeypatch.setattr(migrate_module, "SCHEMA_REVISION", "0099_test")

    with pytest.raises(ConfigurationError, match="turnout schema migrate") as raised:
        create_schema(url)
    assert f"'{SCHEMA_REVISION}'" in str(raised.value)
    assert "'0099_test'" in str(raised.value)
    assert _master(path) == before  # nothing created over the old schema

    migrate(url)
    assert current_revision(url) == "0099_test"
    assert "ix_test_tasks_correlation_id" in {name for _, name, _, _ in _master(path)}
    create_schema(url)  # boots now


def test_a_baseline_database_migrates_to_the_head_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "turnout.db"
    url = _url(path)
    migrate(url, "0001_baseline")
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "INSERT INTO turnout_tasks (task_id, tenant_id, workflow_id, workflow_type, "
            "task_queue, input, correlation_id, requested_at) "
            "VALUES ('t1', 'default', 'w1', 'Hello', 'q', '[]', 'c1', '2026-01-01 00:00:00')"
        )
        conn.commit()
    assert "turnout_approvals" not in {name for _, name, _, _ in _master(path)}

    migrate(url)

    assert current_revision(url) == SCHEMA_REVISION
    assert "turnout_approvals" in {name for _, name, _, _ in _master(path)}
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT workflow_id FROM turnout_tasks").fetchall() == [("w1",)]
    assert _schema_diff(url) == []


def test_the_queue_table_rebuilt_by_0011_keeps_its_rows_both_ways(tmp_path: Path) -> None:
    """0011 makes SQLite's queue table again (to drop a UNIQUE constraint): every row and
    column survives the upgrade and the downgrade, and the key stays unique."""
    path = tmp_path / "turnout.db"
    url = _url(path)
    migrate(url, "0010_sticky_workers")
    row = (
        "workflow_task", "running", "t1", "q", "r1", "w1", '{"a": 1}', 3, 2,
        "2026-01-01 00:00:00", "worker-1", "2026-01-01 00:01:00", "k1", "worker-1",
    )  # fmt: skip
    insert = (
        "INSERT INTO turnout_queue_items (kind, state, tenant_id, task_queue, run_id, "
        "workflow_id, payload, priority, attempt, available_at, lease_owner, "
        "lease_expires_at, idempotency_key, created_at, updated_at, sticky_worker) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    values = (*row[:12], row[12], row[9], row[9], row[13])
    read = (
        "SELECT kind, state, tenant_id, task_queue, run_id, payload, priority, attempt, "
        "available_at, lease_owner, lease_expires_at, idempotency_key, sticky_worker "
        "FROM turnout_queue_items"
    )
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(insert, values)
        conn.commit()
        before = conn.execute(read).fetchall()

    migrate(url)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute(read).fetchall() == before
        with pytest.raises(sqlite3.IntegrityError, match="idempotency_key"):
            conn.execute(insert, values)
    assert _master(path) == _master(_created(tmp_path))

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0010_sticky_workers")
    finally:
        engine.dispose()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute(read).fetchall() == before
        with pytest.raises(sqlite3.IntegrityError, match="idempotency_key"):
            conn.execute(insert, values)


def _created(tmp_path: Path) -> Path:
    path = tmp_path / "created.db"
    create_schema(_url(path))
    return path


def test_an_unknown_revision_stops_boot(tmp_path: Path) -> None:
    path = tmp_path / "turnout.db"
    create_schema(_url(path))
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = '9999_future'")
    with pytest.raises(ConfigurationError, match=r"'9999_future'.*upgrade turnout"):
        create_schema(_url(path))


# --- URLs and engines -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "async_", "expected"),
    [
        ("postgresql://u:p%40ss@db:5432/app", False, "postgresql+psycopg://u:p%40ss@db:5432/app"),
        ("postgresql://u:p@db/app", True, "postgresql+psycopg://u:p@db/app"),
        ("postgres://u@db/app", False, "postgresql+psycopg://u@db/app"),
        ("postgresql+psycopg://u@db/app", False, "postgresql+psycopg://u@db/app"),
        ("sqlite:///data/t.db", False, "sqlite:///data/t.db"),
        ("sqlite:////abs/t.db", True, "sqlite+aiosqlite:////abs/t.db"),
        ("sqlite+aiosqlite:///t.db", False, "sqlite:///t.db"),
        ("sqlite://", False, "sqlite://"),
    ],
)
def test_sqlalchemy_url(url: str, async_: bool, expected: str) -> None:
    assert sqlalchemy_url(url, async_=async_) == expected


@pytest.mark.parametrize(
    "url", ["postgresql+asyncpg://u@db/app", "mysql://u@db/app", "sqlite+pysqlcipher:///t.db"]
)
def test_sqlalchemy_url_refuses_other_drivers(url: str) -> None:
    with pytest.raises(ConfigurationError):
        sqlalchemy_url(url)


PRAGMAS = {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1, "synchronous": 1}


def test_sqlite_engine_settings(tmp_path: Path) -> None:
    engine = make_engine(_url(tmp_path / "turnout.db"))
    try:
        with engine.connect() as conn:
            for pragma, expected in PRAGMAS.items():
                assert conn.exec_driver_sql(f"PRAGMA {pragma}").scalar() == expected, pragma
            # make_engine's transactions are real SQLite transactions, DDL included.
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
            assert conn.connection.dbapi_connection is not None
            assert conn.connection.dbapi_connection.in_transaction
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.rollback()
            assert not sa.inspect(conn).has_table("t")
    finally:
        engine.dispose()


async def test_async_sqlite_engine_settings(tmp_path: Path) -> None:
    engine = make_async_engine(_url(tmp_path / "turnout.db"))
    try:
        async with engine.connect() as conn:
            for pragma, expected in PRAGMAS.items():
                result = await conn.exec_driver_sql(f"PRAGMA {pragma}")
                assert result.scalar() == expected, pragma
    finally:
        await engine.dispose()
