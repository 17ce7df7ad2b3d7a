"""Client and worker interceptors behave as on Temporal on every executor: a value set in
the client's context reaches the run method, a signal handler and an activity through
headers, the way Temporal's context propagation sample carries it."""

from __future__ import annotations

import uuid

import pytest

from turnout.client import Client
from turnout.testing.contract.interceptor_context import user_id
from turnout.testing.contract.workflows_interceptors import Greeter, UserPropagation, greet
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


async def test_a_context_value_reaches_the_run_its_signals_and_its_activities(
    executor: ExecutorHarness,
) -> None:
    client = await Client.connect(executor.target, interceptors=[UserPropagation()])
    task_queue = f"ctx-{uuid.uuid4().hex[:8]}"
    try:
        # The client's interceptor is a worker interceptor too: the worker uses it.
        async with Worker(client, task_queue=task_queue, workflows=[Greeter], activities=[greet]):
            token = user_id.set("ada")
            handle = await client.start_workflow(
                Greeter.run, "Grace", id=f"ctx-{uuid.uuid4().hex[:8]}", task_queue=task_queue
            )
            user_id.reset(token)
            token = user_id.set("linus")
            await handle.signal(Greeter.finish)
            user_id.reset(token)
            assert await handle.result() == ["ada", "linus", "Hello Grace, from ada"]
    finally:
        await client.close()
    assert user_id.get() is None


async def test_a_client_without_interceptors_sends_no_headers(executor: ExecutorHarness) -> None:
    task_queue = f"ctx-{uuid.uuid4().hex[:8]}"
    async with Worker(
        executor.client,
        task_queue=task_queue,
        workflows=[Greeter],
        activities=[greet],
        interceptors=[UserPropagation()],
    ):
        token = user_id.set("ada")
        handle = await executor.client.start_workflow(
            Greeter.run, "Grace", id=f"ctx-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        await handle.signal(Greeter.finish)
        user_id.reset(token)
        assert await handle.result() == [None, None, "Hello Grace, from None"]
