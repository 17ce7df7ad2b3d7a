"""Workflow code that reads the clock, draws random numbers or does I/O fails its
workflow task on every executor, as in Temporal's sandbox, with an error that names the
call; the run stays open for a fix. ``sandbox_unrestricted()`` and ``sandboxed=False``
let such calls through, and workflow's own replacements are never refused."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from turnout import Event, EventType
from turnout.client import WorkflowExecutionStatus
from turnout.testing.contract.workflows_determinism import (
    CALLS,
    DETERMINISM_WORKFLOWS,
    ClockReader,
    LicensedClockReader,
    UnsandboxedClockReader,
)
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


def _id() -> str:
    return f"clock-{uuid.uuid4().hex[:10]}"


async def _first_task_failure(handle: object) -> Event:
    async with asyncio.timeout(30):
        while True:
            events = await handle.events()  # type: ignore[attr-defined]
            failed = [e for e in events if e.type is EventType.WORKFLOW_TASK_FAILED]
            if failed:
                return failed[0]
            await asyncio.sleep(0.05)


async def test_each_forbidden_call_fails_the_workflow_task(executor: ExecutorHarness) -> None:
    task_queue = _id()
    async with Worker(executor.client, task_queue=task_queue, workflows=DETERMINISM_WORKFLOWS):
        handles = {
            name: await executor.client.start_workflow(
                ClockReader.run, name, id=_id(), task_queue=task_queue
            )
            for name in CALLS
        }
        for name, handle in handles.items():
            failure = await _first_task_failure(handle)
            message = str(failure.attributes["failure"]["message"])
            assert name in message, (name, message)
            assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
            await handle.terminate(reason="the call is fixed in the next release")


async def test_unrestricted_and_unsandboxed_calls_go_through(executor: ExecutorHarness) -> None:
    task_queue = _id()
    async with Worker(executor.client, task_queue=task_queue, workflows=DETERMINISM_WORKFLOWS):
        licensed = await executor.client.execute_workflow(
            LicensedClockReader.run, id=_id(), task_queue=task_queue
        )
        assert licensed == ["float", "date", "3"]
        unsandboxed = await executor.client.execute_workflow(
            UnsandboxedClockReader.run, id=_id(), task_queue=task_queue
        )
        assert unsandboxed == "datetimefloat"
