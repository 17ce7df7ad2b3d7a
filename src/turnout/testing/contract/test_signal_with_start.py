"""Signal-with-start behaves as on Temporal on every executor: the signal reaches a new run
before its code starts, or the open run of the id, which the start returns."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from turnout import EventType, IdConflictPolicy
from turnout.testing.contract.workflows_signal_start import SIGNAL_START_WORKFLOWS, Inbox
from turnout.testing.harness import ExecutorHarness
from turnout.testing.timeline import normalize
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


async def test_signal_with_start_starts_or_signals(executor: ExecutorHarness) -> None:
    task_queue = f"inbox-{uuid.uuid4().hex[:8]}"
    workflow_id = f"inbox-{uuid.uuid4().hex[:8]}"
    async with Worker(executor.client, task_queue=task_queue, workflows=SIGNAL_START_WORKFLOWS):
        first = await executor.client.start_workflow(
            Inbox.run, id=workflow_id, task_queue=task_queue,
            start_signal="post", start_signal_args=["hello"],
        )  # fmt: skip
        # Once the run's first workflow task is done (its code saw the first signal), the
        # id is open: a second start signals that run and returns it, even under the
        # default conflict policy.
        async with asyncio.timeout(20):
            while not any(
                e.type is EventType.WORKFLOW_TASK_COMPLETED for e in await first.events()
            ):
                await asyncio.sleep(0.02)
        second = await executor.client.start_workflow(
            Inbox.run, id=workflow_id, task_queue=task_queue,
            start_signal="post", start_signal_args=["again"],
        )  # fmt: skip
        assert second.result_run_id == first.result_run_id
        third = await executor.client.start_workflow(
            Inbox.run, id=workflow_id, task_queue=task_queue,
            id_conflict_policy=IdConflictPolicy.USE_EXISTING,
            start_signal="post", start_signal_args=["third"],
        )  # fmt: skip
        assert third.result_run_id == first.result_run_id
        await first.signal(Inbox.close)
        assert await first.result() == [["hello"], ["hello", "again", "third"]]
    steps = normalize(await first.events())
    assert steps[:2] == [("workflow_started", {}), ("signal_received", {"name": "post"})]


async def test_start_signal_args_without_a_signal_is_refused(executor: ExecutorHarness) -> None:
    with pytest.raises(ValueError, match="start_signal_args needs start_signal"):
        await executor.client.start_workflow(
            Inbox.run, id=f"inbox-{uuid.uuid4().hex[:8]}", task_queue=executor.task_queue,
            start_signal_args=["orphan"],
        )  # fmt: skip
