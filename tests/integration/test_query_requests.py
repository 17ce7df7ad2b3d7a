"""Query requests on the internal executor, on SQLite and PostgreSQL: none is left behind
once answered or given up on (a worker sweeps those whose caller went away), and a worker
whose cached instance has not seen a signal yet answers by replay, so the answer
includes it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import turnout
from tests.workflows_for_tests import SignalWorkflow as Tally
from turnout.executors.internal.schema import queries
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.query_records import QueryRequestParams
from turnout.executors.internal.worker.queries import QUERY_SWEEP_GRACE

pytestmark = pytest.mark.asyncio


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url = str(request.getfixturevalue(fixture))
    connected = await turnout.connect(executor="internal", database_url=url)
    try:
        yield connected
    finally:
        await connected.close()


async def _requests_left(client: Any) -> int:
    async with client.store.reader.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(queries))).scalar_one())


async def test_answered_and_abandoned_requests_are_deleted(client: Any) -> None:
    task_queue = f"tally-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        Tally.run, id=f"t-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    with pytest.raises(TimeoutError, match="no worker polling"):
        await handle.query(Tally.count, rpc_timeout=timedelta(seconds=0.5))
    assert await _requests_left(client) == 0
    async with turnout.Worker(client, task_queue=task_queue, workflows=[Tally]):
        assert await handle.query(Tally.count) == 0
        assert await _requests_left(client) == 0
        # A signal recorded after the worker's last task: the answer includes it.
        await handle.signal(Tally.add, "a")
        assert await handle.query(Tally.count) == 1
        await handle.signal(Tally.finish)
        assert await handle.result() == ["a"]
    assert await _requests_left(client) == 0


@pytest.mark.parametrize("retention", [timedelta(hours=1), None], ids=["retention", "none"])
async def test_a_worker_sweeps_requests_whose_caller_went_away(
    client: Any, retention: timedelta | None
) -> None:
    """Whether or not the worker prunes finished queue items, it sweeps these."""
    await client.store.request_query(
        QueryRequestParams(
            tenant_id=client.tenant_id,
            query_id="gone",
            run_id="no-run",
            workflow_id="w",
            workflow_type="Tally",
            task_queue="nobody",
            name="count",
            args=[],
            expires_at=utcnow() - QUERY_SWEEP_GRACE - timedelta(seconds=1),
        )
    )
    assert await _requests_left(client) == 1
    worker = turnout.Worker(
        client,
        task_queue="sweeper",
        workflows=[Tally],
        reaper_interval=timedelta(seconds=0.05),
        finished_item_retention=retention,
    )
    async with worker, asyncio.timeout(20):
        while await _requests_left(client):
            await asyncio.sleep(0.05)
