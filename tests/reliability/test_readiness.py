"""``/readyz`` follows the database: not ready while the PostgreSQL server is stopped, ready
again once it is back, while ``/healthz`` (the process) stays alive throughout.

The test runs a PostgreSQL cluster of its own (the session's shared server is never
stopped), a worker on it, and its health endpoints.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

import turnout
from tests.observability_workflows import ACTIVITIES, WORKFLOWS, ObservedWorkflow
from turnout.observability import serve_health
from turnout.testing import LocalPostgres, ServerError
from turnout.testing.servers import REQUIRE_POSTGRES_ENV, env_flag

WAIT = 60.0
"""Seconds each change of readiness may take to show (a hang, never a timing)."""


@pytest.fixture
def paused_server() -> Iterator[LocalPostgres]:
    try:
        server = LocalPostgres().start()
    except ServerError as exc:
        if env_flag(REQUIRE_POSTGRES_ENV):
            pytest.fail(f"a local PostgreSQL cluster is needed: {exc}", pytrace=False)
        pytest.skip(f"a local PostgreSQL cluster is needed: {exc}")
    try:
        yield server
    finally:
        server.stop()


async def _get(port: int, path: str) -> tuple[int, dict[str, object]]:
    def fetch() -> tuple[int, dict[str, object]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    return await asyncio.to_thread(fetch)


async def _until_status(port: int, wanted: int) -> dict[str, object]:
    """Probe ``/readyz`` like an orchestrator does, until it answers ``wanted``."""
    async with asyncio.timeout(WAIT):
        while True:
            status, body = await _get(port, "/readyz")
            if status == wanted:
                return body
            await asyncio.sleep(0.2)


@pytest.mark.postgres
@pytest.mark.timeout(180)
async def test_readyz_is_not_ready_while_the_database_is_stopped(
    paused_server: LocalPostgres,
) -> None:
    url = paused_server.admin_url
    client = await turnout.connect(executor="internal", database_url=url)
    try:
        async with turnout.Worker(
            client, task_queue="ready", workflows=WORKFLOWS, activities=ACTIVITIES
        ) as worker:
            server = await serve_health([worker], 0, host="127.0.0.1")
            try:
                await _until_status(server.port, 200)

                await asyncio.to_thread(paused_server.pause)
                body = await _until_status(server.port, 503)
                assert body["status"] == "not ready"
                assert "database unreachable" in str(body["reason"])
                assert (await _get(server.port, "/healthz"))[0] == 200

                await asyncio.to_thread(paused_server.resume)
                body = await _until_status(server.port, 200)
                assert body["status"] == "ready"
                # And the worker works again.
                async with asyncio.timeout(WAIT):
                    while True:
                        try:
                            result = await client.execute_workflow(
                                ObservedWorkflow.run, "back", id="back", task_queue="ready"
                            )
                            break
                        except Exception:
                            await asyncio.sleep(0.2)
                assert result == "back"
            finally:
                await server.close()
    finally:
        await client.close()
