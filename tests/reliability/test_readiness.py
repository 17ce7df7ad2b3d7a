"""``/readyz`` follows the database: not ready while the PostgreSQL server is stopped, ready
again once it is back, while ``/healthz`` (the process) stays alive throughout.

The test runs a PostgreSQL cluster of its own (the server the other tests share is
never stopped), a worker on it, and its health endpoints.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest

import turnout
from tests.observability_workflows import ACTIVITIES, WORKFLOWS, ObservedWorkflow
from turnout.observability import serve_health
from turnout.testing import LocalPostgres

WAIT = 60.0
"""Seconds each change of readiness may take to show (a hang, never a timing)."""


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
    own_postgres: LocalPostgres,
) -> None:
    url = own_postgres.admin_url
    client = await turnout.connect(executor="internal", database_url=url)
    try:
        async with turnout.Worker(
            client, task_queue="ready", workflows=WORKFLOWS, activities=ACTIVITIES
        ) as worker:
            server = await serve_health([worker], 0, host="127.0.0.1")
            try:
                await _until_status(server.port, 200)

                await asyncio.to_thread(own_postgres.pause)
                body = await _until_status(server.port, 503)
                assert body["status"] == "not ready"
                assert "database unreachable" in str(body["reason"])
                assert (await _get(server.port, "/healthz"))[0] == 200

                await asyncio.to_thread(own_postgres.resume)
                body = await _until_status(server.port, 200)
                assert body["status"] == "ready"
                # And the worker works again.
                handle = await client.start_workflow(
                    ObservedWorkflow.run, "back", id="back", task_queue="ready"
                )
                async with asyncio.timeout(WAIT):
                    assert await handle.result() == "back"
            finally:
                await server.close()
    finally:
        await client.close()
