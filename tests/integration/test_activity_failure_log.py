"""An activity attempt that fails is logged by the internal worker with its traceback, as
Temporal's worker does: the cause of a failing run is in the worker's log."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest

import turnout
from tests import workflows_for_tests as wf

pytestmark = pytest.mark.asyncio


async def test_each_failed_attempt_is_logged_with_its_traceback(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    queue = f"log-{uuid.uuid4().hex[:8]}"
    caplog.set_level(logging.WARNING, logger="turnout.worker")
    async with turnout.Worker(
        client, task_queue=queue, workflows=[wf.BrokenWorkflow], activities=[wf.broken]
    ):
        handle = await client.start_workflow(
            wf.BrokenWorkflow.run, "k", id=f"log-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        with pytest.raises(turnout.WorkflowFailureError):
            await handle.result()
    failed = [r for r in caplog.records if "activity broken" in r.getMessage()]
    assert failed
    record = failed[0]
    assert "this input can never work" in record.getMessage()
    assert record.exc_info is not None
    traceback = logging.Formatter().formatException(record.exc_info)
    assert "in broken" in traceback  # the activity's own frame


async def test_a_workflow_type_the_worker_does_not_know_is_logged(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    queue = f"log-{uuid.uuid4().hex[:8]}"
    caplog.set_level(logging.WARNING, logger="turnout.worker")
    async with turnout.Worker(client, task_queue=queue, workflows=[wf.HelloWorkflow]):
        handle = await client.start_workflow(
            "Chekout", id=f"log-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        async with asyncio.timeout(20):
            while not any("Chekout" in r.getMessage() for r in caplog.records):
                await asyncio.sleep(0.05)
        await handle.terminate(reason="mistyped")
    logged = next(r for r in caplog.records if "Chekout" in r.getMessage())
    assert "is not registered" in logged.getMessage()
    assert "HelloWorkflow" in logged.getMessage()  # what the worker does know
