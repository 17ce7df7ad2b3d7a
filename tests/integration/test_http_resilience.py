"""The HTTP API when things go wrong: the database goes away, a client call fails in a
way that is not the request's fault, the tokens file disappears."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError

import turnout
from turnout import workflow
from turnout.config import load_settings
from turnout.http import create_app
from turnout.http.app import ClientHub, settings_factory
from turnout.http.auth import new_token, token_line
from turnout.http.errors import from_exception
from turnout.testing import LocalPostgres

TENANT = "tenant-a"

QUERY_ENTERED = threading.Event()
QUERY_RELEASE = threading.Event()
QUERY_DONE = threading.Event()


@workflow.defn
class SlowQueryWorkflow:
    """Waits for a signal; its query blocks until the test releases it."""

    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.go)
        return "done"

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.query
    def slow(self) -> str:
        QUERY_ENTERED.set()
        QUERY_RELEASE.wait(5)  # bounded: a blocked event loop ends it, failing the test
        QUERY_DONE.set()
        return "answered"


def _tokens(path: Path) -> str:
    token = new_token()
    path.write_text(token_line(TENANT, token) + "\n")
    return token


@asynccontextmanager
async def _http(app: Any, token: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport,
            base_url="http://turnout.test",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ) as http,
    ):
        yield http


@pytest.mark.postgres
async def test_a_database_outage_is_503_with_a_retry_hint_and_the_api_recovers(
    own_postgres: LocalPostgres, tmp_path: Path
) -> None:
    token = _tokens(tmp_path / "tokens")
    settings = load_settings(database_url=own_postgres.admin_url)
    app = create_app(settings, tokens_file=tmp_path / "tokens")
    async with _http(app, token) as http:
        started = await http.post(
            "/workflows", json={"workflow": "Anything", "task_queue": "q", "id": "before"}
        )
        assert started.status_code == 202, started.text
        own_postgres.pause()
        try:
            for path in ("/workflows", "/workflows/before", "/workflows/before/events"):
                response = await http.get(path)
                assert response.status_code == 503, (path, response.text)
                error = response.json()["error"]
                assert error["code"] == "executor_unavailable"
                assert "database is unreachable" in error["message"]
                assert "retry" in error["message"]
            response = await http.post(
                "/workflows", json={"workflow": "Anything", "task_queue": "q", "id": "during"}
            )
            assert response.status_code == 503, response.text
        finally:
            own_postgres.resume()
        response = await http.get("/workflows/before")
        assert response.status_code == 200, response.text


class _BrokenClient:
    """A tenant client whose reads fail with errors that are the server's, not the caller's."""

    executor = "internal"

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def list_workflows(self, **_: Any) -> Any:
        raise self.error

    async def start_workflow(self, *_: Any, **__: Any) -> Any:
        raise TypeError("workflow Greeter cannot take these arguments: too many")

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("error", [ValueError("bad row"), TypeError("unexpected None")])
async def test_a_type_or_value_error_outside_input_checks_is_a_logged_500(
    tmp_path: Path, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    token = _tokens(tmp_path / "tokens")

    async def factory(tenant: str) -> Any:
        return _BrokenClient(error)

    app = create_app(
        load_settings(database_url="sqlite://"),
        tokens_file=tmp_path / "tokens",
        client_factory=factory,
    )
    async with _http(app, token) as http:
        with caplog.at_level(logging.ERROR, logger="turnout.http"):
            response = await http.get("/workflows")
        assert response.status_code == 500, response.text
        assert response.json()["error"]["code"] == "internal_error"
        assert any(r.exc_info and r.exc_info[1] is error for r in caplog.records)
        # The same kind of error raised by the client's input checks is the caller's.
        response = await http.post(
            "/workflows", json={"workflow": "Greeter", "task_queue": "q", "args": [1, 2]}
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_input"
        assert "cannot take these arguments" in response.json()["error"]["message"]


async def test_a_deleted_tokens_file_refuses_every_token_with_a_401_naming_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tokens"
    token = _tokens(path)
    settings = load_settings(database_url=f"sqlite:///{tmp_path}/api.db")
    app = create_app(settings, tokens_file=path)
    async with _http(app, token) as http:
        assert (await http.get("/workflows")).status_code == 200
        path.unlink()
        for _ in range(2):
            response = await http.get("/workflows")
            assert response.status_code == 401, response.text
            assert str(path) in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("message", "status"),
    [("database is locked", 503), ("unable to open database file", 503), ("no such table", 500)],
)
def test_sqlite_errors_are_an_outage_only_when_the_file_cannot_be_used(
    message: str, status: int
) -> None:
    error = OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))
    assert from_exception(error).status == status


async def test_a_query_handler_runs_off_the_event_loop_so_other_requests_are_answered(
    tmp_path: Path,
) -> None:
    for event in (QUERY_ENTERED, QUERY_RELEASE, QUERY_DONE):
        event.clear()
    token = _tokens(tmp_path / "tokens")
    settings = load_settings(database_url=f"sqlite:///{tmp_path}/api.db")
    app = create_app(settings, tokens_file=tmp_path / "tokens", workflows=[SlowQueryWorkflow])
    async with _http(app, token) as http:
        client = await app.state.turnout.hub.client(TENANT)
        body = {"workflow": "SlowQueryWorkflow", "task_queue": "slow", "id": "slow-1"}
        assert (await http.post("/workflows", json=body)).status_code == 202
        async with turnout.Worker(client, task_queue="slow", workflows=[SlowQueryWorkflow]):
            async with asyncio.timeout(30):  # the worker's first workflow task ran
                while (await http.get("/workflows/slow-1")).json()["state"] != "running":
                    await asyncio.sleep(0.02)
            query = asyncio.create_task(http.get("/workflows/slow-1/queries/slow"))
            try:
                assert await asyncio.to_thread(QUERY_ENTERED.wait, 10)
                other = await http.get("/workflows/slow-1")
                assert other.status_code == 200
                # Answered while the query's handler still runs.
                assert not QUERY_DONE.is_set()
            finally:
                QUERY_RELEASE.set()
            answer = await query
            assert answer.json() == {"result": "answered"}, answer.text
            await http.post("/workflows/slow-1/signals/proceed")


async def test_two_tenants_first_requests_at_once_share_one_store(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path}/api.db")
    hub = ClientHub(settings_factory(settings))
    try:
        a, b = await asyncio.gather(hub.client("tenant-a"), hub.client("tenant-b"))
        assert a.store is b.store
        assert (a.tenant_id, b.tenant_id) == ("tenant-a", "tenant-b")
    finally:
        await hub.close()
