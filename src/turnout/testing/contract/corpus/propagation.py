"""The behaviour of samples-python's ``context_propagation``: one interceptor, both a
client and a worker interceptor, carries a user id from the client's context into the
workflow (its run method and its signal handler) and on into its activity, through
headers. The client is made with ``Client.connect(target, interceptors=[...])``; the
worker, made from that client, uses the interceptor too."""

from __future__ import annotations

from datetime import timedelta

from turnout import activity, workflow
from turnout.client import Client
from turnout.exceptions import ApplicationError
from turnout.testing.contract.corpus.support import Driver, fresh_id
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

with workflow.unsafe.imports_passed_through():
    from turnout.testing.contract.interceptor_context import user_id
    from turnout.testing.contract.workflows_interceptors import UserPropagation


@activity.defn(name="say_hello_for_user")
async def say_hello_for_user(name: str) -> str:
    """Fails for good unless it runs for the user the client set."""
    if user_id.get() != "test-user":
        raise ApplicationError(f"called by {user_id.get()!r}", non_retryable=True)
    return f"Hello, {name}"


@workflow.defn
class SayHelloForUser:
    """Waits for its signal, then greets through the activity."""

    def __init__(self) -> None:
        self.complete = False
        self.callers: list[str | None] = []

    @workflow.run
    async def run(self, name: str) -> list[str | None]:
        self.callers.append(user_id.get())
        await workflow.wait_condition(lambda: self.complete)
        greeting = await workflow.execute_activity(
            say_hello_for_user, name, start_to_close_timeout=timedelta(minutes=5)
        )
        return [greeting, *self.callers]

    @workflow.signal
    async def signal_complete(self) -> None:
        self.callers.append(user_id.get())
        self.complete = True


async def context_propagation(env: ExecutorHarness) -> None:
    client = await Client.connect(env.target, interceptors=[UserPropagation()])
    task_queue = fresh_id("propagation")
    try:
        async with Worker(
            client,
            task_queue=task_queue,
            activities=[say_hello_for_user],
            workflows=[SayHelloForUser],
        ):
            # The user is set while starting and signalling, and unset after.
            token = user_id.set("test-user")
            handle = await client.start_workflow(
                SayHelloForUser.run, "some-name", id=fresh_id("wf"), task_queue=task_queue
            )
            await handle.signal(SayHelloForUser.signal_complete)
            user_id.reset(token)
            assert await handle.result() == ["Hello, some-name", "test-user", "test-user"]
    finally:
        await client.close()


SCENARIOS: dict[str, Driver] = {"context_propagation": context_propagation}
"""The sample's scenario."""

WORKFLOWS = [SayHelloForUser]
ACTIVITIES = [say_hello_for_user]
