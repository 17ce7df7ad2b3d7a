"""``workflow.unsafe``'s blocks and questions behave as on Temporal on every executor:
``imports_passed_through()`` and ``sandbox_unrestricted()`` are noticed inside their
blocks, a query runs read-only, and only Temporal has a sandbox."""

from __future__ import annotations

import uuid

import pytest

from turnout.testing.contract.workflows_sandbox import SANDBOX_WORKFLOWS, Introspective
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


async def test_unsafe_blocks_and_questions(executor: ExecutorHarness) -> None:
    task_queue = f"unsafe-{uuid.uuid4().hex[:8]}"
    async with Worker(executor.client, task_queue=task_queue, workflows=SANDBOX_WORKFLOWS):
        handle = await executor.client.start_workflow(
            Introspective.run, id=f"unsafe-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        assert await handle.query(Introspective.read_only) is True
        await handle.signal(Introspective.finish)
        assert await handle.result() == {
            "in_sandbox": executor.kind == "temporal",  # the internal executor has none
            "passed_through": True,
            "unrestricted": True,
            "outside": False,
            "read_only_in_run": False,
        }
