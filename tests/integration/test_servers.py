"""Smoke tests of the real-server fixtures of ``turnout.testing.plugin``."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from turnout.testing import ExternalPostgres, PostgresServer, ServerError

_ISOLATION_TABLE = "turnout_isolation_probe"


def _has_table(url: str, name: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()
    assert row is not None
    return bool(row[0])


def test_postgres_url_is_a_real_server(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        row = conn.execute("select version(), current_database()").fetchone()
    assert row is not None
    version, database = row
    assert re.match(r"PostgreSQL 1\d", version), version
    assert postgres_url.endswith(f"/{database}")


def test_postgres_url_database_starts_empty(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from pg_tables where schemaname not in ('pg_catalog', "
            "'information_schema')"
        ).fetchone()
    assert row == (0,)


@pytest.fixture(scope="module")
def first_database(postgres_server: PostgresServer) -> dict[str, str]:
    """Filled in by the first isolation test, read by the second."""
    return {}


def test_isolation_first_database_creates_a_table(
    postgres_url: str, first_database: dict[str, str]
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"create table {_ISOLATION_TABLE} (id int primary key)")
        conn.execute(f"insert into {_ISOLATION_TABLE} values (1)")
    assert _has_table(postgres_url, _ISOLATION_TABLE)
    first_database["url"] = postgres_url


def test_isolation_second_database_does_not_see_it(
    postgres_url: str, first_database: dict[str, str]
) -> None:
    if "url" not in first_database:
        pytest.skip("runs after test_isolation_first_database_creates_a_table")
    assert postgres_url != first_database["url"]
    assert not _has_table(postgres_url, _ISOLATION_TABLE)


def test_postgres_url_is_dropped_after_the_test(
    postgres_server: PostgresServer, first_database: dict[str, str]
) -> None:
    if "url" not in first_database:
        pytest.skip("runs after test_isolation_first_database_creates_a_table")
    name = first_database["url"].rsplit("/", 1)[1]
    with psycopg.connect(postgres_server.admin_url, autocommit=True) as conn:
        row = conn.execute("select count(*) from pg_database where datname = %s", (name,))
        assert row.fetchone() == (0,)


def test_sqlite_url_points_into_tmp_path(sqlite_url: str, tmp_path: Path) -> None:
    assert sqlite_url == f"sqlite:///{tmp_path}/turnout.db"


async def test_temporal_address_answers(temporal_address: str, temporal_namespace: str) -> None:
    assert temporal_namespace == "default"
    client = await Client.connect(temporal_address, namespace=temporal_namespace)
    health = await client.service_client.check_health()
    assert health is True
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=temporal_namespace)
    )
    assert described.namespace_info.name == "default"
    # Other tests share the server, so only the call itself is checked.
    count = await client.count_workflows()
    assert count.count >= 0


def test_postgres_server_restart_keeps_data(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    if postgres_server.kind != "local":
        pytest.skip(f"restart() needs a local cluster, this one is {postgres_server.kind!r}")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("create table kept (id int primary key)")
        conn.execute("insert into kept values (7)")
    postgres_server.restart()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("select id from kept").fetchall() == [(7,)]


def test_restart_of_an_external_server_is_refused() -> None:
    server = ExternalPostgres("postgresql://someone:secret@db.example:5432/postgres")
    with pytest.raises(ServerError, match="LocalPostgres") as caught:
        server.restart()
    assert "secret" not in str(caught.value)


def test_a_cluster_left_behind_never_kills_whoever_has_its_postmaster_pid_now() -> None:
    """A cluster whose creator died is stopped by the next start; when its
    ``postmaster.pid`` names a pid that another process has been given since, that
    process is left alone."""
    import shutil
    import subprocess
    import sys
    import tempfile

    from turnout.testing import LocalPostgres

    base = Path(tempfile.mkdtemp(prefix="turnout-left-behind-"))
    base.chmod(0o755)  # the cluster's user (postgres, when run as root) works in it
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(30)  # its pid now names no process: the creator of the cluster left behind
    left = base / "turnout-pg-left-behind"
    (left / "data").mkdir(parents=True)
    (left / "owner.pid").write_text(str(gone.pid))
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (left / "data" / "postmaster.pid").write_text(f"{bystander.pid}\n{left / 'data'}\n")
        with LocalPostgres(base_dir=base).start():
            pass
        assert not left.exists(), "the cluster left behind was not cleaned up"
    finally:
        bystander.terminate()
        status = bystander.wait(30)
        shutil.rmtree(base, ignore_errors=True)
    assert status == -15, f"the bystander was killed before (exit status {status})"
