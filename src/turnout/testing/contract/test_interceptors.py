"""Client and worker interceptors behave as on Temporal on every executor: a value set in
the client's context reaches the run method, a signal handler and an activity through
headers, the way Temporal's context propagation sample carries it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from turnout.client import Client, WorkflowUpdateFailedError
from turnout.testing.contract.interceptor_context import user_id
from turnout.testing.contract.workflows_interceptors import (
    Echo,
    Greeter,
    OneGreeting,
    Relay,
    Renaming,
    Tagging,
    UserPropagation,
    greet,
    greet_loudly,
)
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Replayer, Worker

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


async def test_every_call_a_workflow_makes_carries_the_context(executor: ExecutorHarness) -> None:
    client = await Client.connect(executor.target, interceptors=[UserPropagation()])
    task_queue = f"ctx-{uuid.uuid4().hex[:8]}"

    async def as_user(user: str, call: Any) -> Any:
        token = user_id.set(user)
        try:
            return await call
        finally:
            user_id.reset(token)

    try:
        async with Worker(
            client, task_queue=task_queue, workflows=[Relay, Echo], activities=[greet]
        ):
            handle = await as_user(
                "ada",
                client.start_workflow(
                    Relay.run, "Grace", id=f"relay-{uuid.uuid4().hex[:8]}", task_queue=task_queue
                ),
            )
            assert await as_user("cy", handle.query(Relay.asker)) == "cy"
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await as_user("eve", handle.execute_update(Relay.stamp))
            assert "only dee may stamp, not eve" in str(refused.value.cause)
            assert await as_user("dee", handle.execute_update(Relay.stamp)) == "dee"
            await as_user("linus", handle.signal(Relay.finish))
            assert await handle.result() == [
                "ada",  # the run method: the start's header
                "linus",  # the signal handler: the signal's
                "Hello Grace, from ada",  # the activity: the run's, set by the outbound
                "Hello Grace, from ada",  # the local activity
                ["ada", "ada"],  # the child's run method, and its signal from the parent
                "dee",  # the update handler: the update's
                "ada",  # the run after continue-as-new
            ]
    finally:
        await client.close()


async def test_the_first_interceptor_given_sees_each_call_first(executor: ExecutorHarness) -> None:
    calls: list[str] = []
    client = await Client.connect(
        executor.target, interceptors=[Tagging("outer", calls), Tagging("inner", calls)]
    )
    task_queue = f"tags-{uuid.uuid4().hex[:8]}"
    try:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[OneGreeting],
            activities=[greet],
            interceptors=[Tagging("worker's", calls)],
        ):
            handle = await client.start_workflow(
                OneGreeting.run, "Ada", id=f"tags-{uuid.uuid4().hex[:8]}", task_queue=task_queue
            )
            assert await handle.result() == "Hello Ada, from None"
    finally:
        await client.close()
    # The client's worker interceptors come before the worker's own.
    assert calls == [
        "start:outer",
        "start:inner",
        "activity:outer",
        "activity:inner",
        "activity:worker's",
    ]


async def test_an_interceptor_can_send_an_activity_elsewhere_and_a_history_replays_with_it(
    executor: ExecutorHarness,
) -> None:
    task_queue = f"rename-{uuid.uuid4().hex[:8]}"
    async with Worker(
        executor.client,
        task_queue=task_queue,
        workflows=[OneGreeting],
        activities=[greet, greet_loudly],
        interceptors=[Renaming()],
    ):
        handle = await executor.client.start_workflow(
            OneGreeting.run, "Ada", id=f"rename-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        assert await handle.result() == "HELLO ADA"
    history = await handle.fetch_history()
    replayer = Replayer(workflows=[OneGreeting], interceptors=[Renaming()])
    assert (await replayer.replay_workflow(history)).replay_failure is None
