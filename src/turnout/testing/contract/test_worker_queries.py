"""Workers answer queries, as on Temporal, on every executor: from the instance they hold,
by replaying the run with their own code after a restart or once the run closed, by name
from a client that knows no workflow class, with the handler's error or the names of the
queries there are, with the worker's code when the client's is older, and with a clear
timeout when no worker of the run's task queue answers."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from turnout.client import Client, WorkflowQueryFailedError
from turnout.testing.contract import workflows_queries_v1 as v1
from turnout.testing.contract.workflows_queries import (
    QUERY_WORKFLOWS,
    Bystander,
    Ledger,
    LedgerSummary,
)
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


def _queue() -> str:
    return f"queries-{uuid.uuid4().hex[:8]}"


async def _start(executor: ExecutorHarness, task_queue: str) -> Any:
    return await executor.client.start_workflow(
        Ledger.run, id=f"ledger-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )


@asynccontextmanager
async def _ledger(executor: ExecutorHarness, *entries: str) -> AsyncIterator[Any]:
    """A ledger run holding ``entries``, a worker of its task queue running; the run is
    closed, and its result checked, on the way out."""
    task_queue = _queue()
    async with Worker(executor.client, task_queue=task_queue, workflows=QUERY_WORKFLOWS):
        handle = await _start(executor, task_queue)
        # Each update returns once the workflow task that ran it committed.
        for count, entry in enumerate(entries, 1):
            assert await handle.execute_update(Ledger.add, entry) == count
        yield handle
        await handle.signal(Ledger.close)
        assert await handle.result() == list(entries)


@asynccontextmanager
async def _bare_client(executor: ExecutorHarness) -> AsyncIterator[Any]:
    """A client of the same executor given no workflow classes."""
    client = await Client.connect(executor.target)
    try:
        yield client
    finally:
        await client.close()


async def test_query_answered_from_the_cached_instance(executor: ExecutorHarness) -> None:
    async with _ledger(executor, "a") as handle:
        # The worker holds the run's instance, current: the same object answers each time.
        first = await handle.query(Ledger.which)
        assert await handle.query(Ledger.listed) == ["a"]
        assert await handle.query(Ledger.which) == first


async def test_query_after_the_worker_restarted(executor: ExecutorHarness) -> None:
    task_queue = _queue()
    async with Worker(executor.client, task_queue=task_queue, workflows=QUERY_WORKFLOWS):
        handle = await _start(executor, task_queue)
        assert await handle.execute_update(Ledger.add, "a") == 1
        assert await handle.execute_update(Ledger.add, "b") == 2
    # A new worker holds nothing: it replays the run with its code to answer.
    async with Worker(executor.client, task_queue=task_queue, workflows=QUERY_WORKFLOWS):
        assert await handle.query(Ledger.listed) == ["a", "b"]
        assert await handle.query(Ledger.summary) == LedgerSummary(2, "b")
        await handle.signal(Ledger.close)
        assert await handle.result() == ["a", "b"]


async def test_query_of_a_closed_run(executor: ExecutorHarness) -> None:
    async with _ledger(executor, "a") as handle:
        task_queue = (await handle.describe()).task_queue
    # Closed, and its worker gone: another one replays it.
    async with Worker(executor.client, task_queue=task_queue, workflows=QUERY_WORKFLOWS):
        assert await handle.query(Ledger.listed) == ["a"]
        assert await handle.query(Ledger.version) == "v2"


async def test_query_by_name_from_a_client_without_classes(executor: ExecutorHarness) -> None:
    async with _ledger(executor, "a") as handle, _bare_client(executor) as bare:
        by_id = bare.get_workflow_handle(handle.id)
        assert await by_id.query("listed") == ["a"]
        assert await by_id.query("summary") == {"count": 1, "last": "a"}
        typed = await by_id.query("summary", result_type=LedgerSummary)
        assert typed == LedgerSummary(1, "a")


async def test_query_handler_error_and_unknown_name(executor: ExecutorHarness) -> None:
    async with _ledger(executor) as handle:
        with pytest.raises(WorkflowQueryFailedError) as raised:
            await handle.query(Ledger.sealed)
        assert str(raised.value) == "the ledger is sealed"
        with pytest.raises(WorkflowQueryFailedError) as unknown:
            await handle.query("missing")
    message = str(unknown.value)
    assert "'missing'" in message
    assert "known queries: [" in message
    for name in ("listed", "sealed", "summary", "version", "which"):
        assert name in message


async def test_worker_code_answers_a_client_with_older_code(executor: ExecutorHarness) -> None:
    async with _ledger(executor, "a") as handle, _bare_client(executor) as old:
        by_id = old.get_workflow_handle(handle.id)
        # The client's class is v1, whose code cannot replay this run: the worker's
        # code answers.
        assert await by_id.query(v1.Ledger.version) == "v2"
        assert await by_id.query(v1.Ledger.listed) == ["a"]


async def test_query_with_no_worker_for_the_type_times_out(executor: ExecutorHarness) -> None:
    task_queue = _queue()
    handle = await _start(executor, task_queue)
    # A worker of the queue without the workflow type leaves the query alone.
    async with Worker(executor.client, task_queue=task_queue, workflows=[Bystander]):
        began = time.monotonic()
        with pytest.raises(TimeoutError) as raised:
            await handle.query(Ledger.listed, rpc_timeout=timedelta(seconds=2))
        assert 1.5 < time.monotonic() - began < 20
    message = str(raised.value)
    assert f"no worker polling task queue {task_queue!r} answered within 2s" in message
    assert "start a worker" in message
    with pytest.raises(TimeoutError, match="no worker polling"):
        await handle.query("listed", rpc_timeout=timedelta(seconds=1))
    await handle.terminate()
