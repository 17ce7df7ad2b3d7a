"""The order in which one activation runs workflow code is Temporal's on every executor:
signals that reach a run together are all handled, in the order sent, before the run
method starts, and a condition is checked only once no other code is ready to run (even
when it already holds), so a run never decides on half of what it was sent."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from turnout import EventType, worker
from turnout.testing.contract.corpus.hello_lifecycle import Mailroom
from turnout.testing.contract.workflows_signal_order import Ledger, Relay
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


async def test_signals_sent_before_the_first_task_are_all_handled_first(
    executor: ExecutorHarness,
) -> None:
    task_queue = f"mail-{uuid.uuid4().hex[:8]}"
    handle = await executor.client.start_workflow(
        Mailroom.run, id=f"mail-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    # No worker polls the queue yet: the start and the four signals reach the run's
    # code in one activation, the synchronous ``close`` after three asynchronous ones.
    for name in ("Ada", "Grace", "Linus"):
        await handle.signal(Mailroom.deliver, name)
    await handle.signal(Mailroom.close)
    async with Worker(executor.client, task_queue=task_queue, workflows=[Mailroom]):
        assert await handle.result() == [
            "letter for Ada",
            "letter for Grace",
            "letter for Linus",
        ]
    tasks = [e for e in await handle.events() if e.type is EventType.WORKFLOW_TASK_COMPLETED]
    assert len(tasks) == 1


async def test_a_condition_that_holds_waits_for_the_code_already_ready(
    executor: ExecutorHarness,
) -> None:
    task_queue = f"relay-{uuid.uuid4().hex[:8]}"
    async with Worker(executor.client, task_queue=task_queue, workflows=[Relay]):
        handle = await executor.client.start_workflow(
            Relay.run, id=f"relay-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        assert await handle.result() == ["plain", "condition"]


class _PassThrough(worker.Interceptor):
    def workflow_interceptor_class(self, input: Any) -> Any:
        return worker.WorkflowInboundInterceptor


@pytest.mark.parametrize("intercepted", [False, True], ids=["plain", "intercepted"])
async def test_a_signal_sent_with_the_start_is_handled_before_the_run_method_starts(
    executor: ExecutorHarness, intercepted: bool
) -> None:
    task_queue = f"ledger-{uuid.uuid4().hex[:8]}"
    handle = await executor.client.start_workflow(
        Ledger.run, id=f"ledger-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    await handle.signal(Ledger.note)
    # Interceptors that change nothing change no order either.
    interceptors = [_PassThrough()] if intercepted else []
    async with Worker(
        executor.client, task_queue=task_queue, workflows=[Ledger], interceptors=interceptors
    ):
        assert await handle.result() == ["signal", "run"]
