"""Cancellation with cleanup in the workflow, on every executor."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

import turnout
from tests import workflows_for_tests as wf
from turnout import RunState, WorkflowFailureError

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def client(executor_client: Any) -> Any:
    return executor_client


Q = "tests"
LIMIT = timedelta(seconds=30)


def _id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"


def _types(events: list[turnout.Event]) -> list[str]:
    return [e.type.value for e in events]


async def test_cancel_runs_cleanup_and_ends_canceled(client: Any) -> None:
    key = _id()
    handle = await client.start_workflow(wf.CancellableWorkflow.run, key, id=key, task_queue=Q)
    async with asyncio.timeout(20):
        while wf.CALLS[f"cancel:{key}"] == 0:
            await asyncio.sleep(0.02)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result(timeout=LIMIT)
    assert isinstance(info.value.cause, turnout.CancelledError)
    assert (await handle.describe()).state is RunState.CANCELED
    assert wf.CALLS[f"greet:cleanup-{key}"] == 1  # the workflow's cleanup ran
    async with asyncio.timeout(20):  # the activity heard the cancel through its heartbeat
        while wf.CALLS[f"cancelled:{key}"] == 0:
            await asyncio.sleep(0.02)
    types = _types(await handle.events())
    assert "workflow_cancel_requested" in types
    assert "workflow_canceled" in types
