"""A value carried through headers from the client to the workflow, its signal handler
and its activity, by one interceptor that is both a client and a worker interceptor (the
shape of Temporal's context propagation sample)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from turnout import activity, client, converter, worker, workflow

with workflow.unsafe.imports_passed_through():
    from turnout.testing.contract.interceptor_context import HEADER, user_id


def put_user(input: Any, payloads: Any) -> None:
    """Add the current user to ``input``'s headers."""
    if user_id.get():
        input.headers = {**input.headers, HEADER: payloads.to_payload(user_id.get())}


@contextmanager
def user_from(headers: Mapping[str, Any], payloads: Any) -> Iterator[None]:
    """The user of ``headers`` as the current one, inside the block."""
    found = headers.get(HEADER)
    token = user_id.set(payloads.from_payload(found, str)) if found is not None else None
    try:
        yield
    finally:
        if token is not None:
            user_id.reset(token)


class _ClientOutbound(client.OutboundInterceptor):
    async def start_workflow(self, input: Any) -> Any:
        put_user(input, converter.default().payload_converter)
        return await super().start_workflow(input)

    async def signal_workflow(self, input: Any) -> None:
        put_user(input, converter.default().payload_converter)
        await super().signal_workflow(input)


class _ActivityInbound(worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: Any) -> Any:
        with user_from(input.headers, activity.payload_converter()):
            return await super().execute_activity(input)


class _WorkflowOutbound(worker.WorkflowOutboundInterceptor):
    def start_activity(self, input: Any) -> Any:
        put_user(input, workflow.payload_converter())
        return super().start_activity(input)


class _WorkflowInbound(worker.WorkflowInboundInterceptor):
    def init(self, outbound: Any) -> None:
        super().init(_WorkflowOutbound(outbound))

    async def execute_workflow(self, input: Any) -> Any:
        with user_from(input.headers, workflow.payload_converter()):
            return await super().execute_workflow(input)

    async def handle_signal(self, input: Any) -> None:
        with user_from(input.headers, workflow.payload_converter()):
            await super().handle_signal(input)


class UserPropagation(client.Interceptor, worker.Interceptor):
    """Carries ``user_id`` from client calls to workflow and activity code."""

    def intercept_client(self, next: Any) -> Any:
        return _ClientOutbound(next)

    def intercept_activity(self, next: Any) -> Any:
        return _ActivityInbound(next)

    def workflow_interceptor_class(self, input: Any) -> Any:
        return _WorkflowInbound


@activity.defn
async def greet(name: str) -> str:
    return f"Hello {name}, from {user_id.get()}"


@workflow.defn
class Greeter:
    def __init__(self) -> None:
        self.signalled_by: str | None = None
        self.done = False

    @workflow.run
    async def run(self, name: str) -> list[Any]:
        started_by = user_id.get()
        await workflow.wait_condition(lambda: self.done)
        greeting = await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=30)
        )
        return [started_by, self.signalled_by, greeting]

    @workflow.signal
    async def finish(self) -> None:
        self.signalled_by = user_id.get()
        self.done = True
