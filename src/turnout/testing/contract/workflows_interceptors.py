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

    async def query_workflow(self, input: Any) -> Any:
        put_user(input, converter.default().payload_converter)
        return await super().query_workflow(input)

    async def start_workflow_update(self, input: Any) -> Any:
        put_user(input, converter.default().payload_converter)
        return await super().start_workflow_update(input)


class _ActivityInbound(worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: Any) -> Any:
        with user_from(input.headers, activity.payload_converter()):
            return await super().execute_activity(input)


class _WorkflowOutbound(worker.WorkflowOutboundInterceptor):
    def start_activity(self, input: Any) -> Any:
        put_user(input, workflow.payload_converter())
        return super().start_activity(input)

    def start_local_activity(self, input: Any) -> Any:
        put_user(input, workflow.payload_converter())
        return super().start_local_activity(input)

    async def start_child_workflow(self, input: Any) -> Any:
        put_user(input, workflow.payload_converter())
        return await super().start_child_workflow(input)

    async def signal_external_workflow(self, input: Any) -> None:
        put_user(input, workflow.payload_converter())
        await super().signal_external_workflow(input)

    def continue_as_new(self, input: Any) -> Any:
        put_user(input, workflow.payload_converter())
        return super().continue_as_new(input)


class _WorkflowInbound(worker.WorkflowInboundInterceptor):
    def init(self, outbound: Any) -> None:
        super().init(_WorkflowOutbound(outbound))

    async def execute_workflow(self, input: Any) -> Any:
        with user_from(input.headers, workflow.payload_converter()):
            return await super().execute_workflow(input)

    async def handle_signal(self, input: Any) -> None:
        with user_from(input.headers, workflow.payload_converter()):
            await super().handle_signal(input)

    async def handle_query(self, input: Any) -> Any:
        with user_from(input.headers, workflow.payload_converter()):
            return await super().handle_query(input)

    def handle_update_validator(self, input: Any) -> None:
        with user_from(input.headers, workflow.payload_converter()):
            super().handle_update_validator(input)

    async def handle_update_handler(self, input: Any) -> Any:
        with user_from(input.headers, workflow.payload_converter()):
            return await super().handle_update_handler(input)


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


@workflow.defn
class Echo:
    """A child: who started it, and who poked it."""

    def __init__(self) -> None:
        self.poked_by: str | None = None
        self.poked = False

    @workflow.run
    async def run(self) -> list[str | None]:
        started_by = user_id.get()
        await workflow.wait_condition(lambda: self.poked)
        return [started_by, self.poked_by]

    @workflow.signal
    def poke(self) -> None:
        self.poked_by = user_id.get()
        self.poked = True


@workflow.defn
class Relay:
    """Every call a workflow makes, each seeing who asked: activities, a local activity,
    a child, a signal to another workflow, an update, then a continue-as-new."""

    def __init__(self) -> None:
        self.signalled_by: str | None = None
        self.updated_by: str | None = None

    @workflow.run
    async def run(self, name: str, seen: list[Any] | None = None) -> list[Any]:
        if seen is not None:  # the run continued as new
            return [*seen, user_id.get()]
        started_by = user_id.get()
        await workflow.wait_condition(lambda: self.signalled_by is not None)
        remote = await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=30)
        )
        local = await workflow.execute_local_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=30)
        )
        child = await workflow.start_child_workflow(
            Echo.run, id=f"{workflow.info().workflow_id}-echo"
        )
        await workflow.get_external_workflow_handle(child.id).signal(Echo.poke)
        echoed = await child
        seen = [started_by, self.signalled_by, remote, local, echoed, self.updated_by]
        workflow.continue_as_new(args=[name, seen])

    @workflow.signal
    def finish(self) -> None:
        self.signalled_by = user_id.get()

    @workflow.query
    def asker(self) -> str | None:
        return user_id.get()

    @workflow.update
    def stamp(self) -> str | None:
        self.updated_by = user_id.get()
        return self.updated_by

    @stamp.validator
    def only_dee(self) -> None:
        if user_id.get() != "dee":
            raise ValueError(f"only dee may stamp, not {user_id.get()}")


class Tagging(client.Interceptor, worker.Interceptor):
    """Writes its name in ``calls`` as each client start and activity passes it."""

    def __init__(self, name: str, calls: list[str]) -> None:
        self.name = name
        self.calls = calls

    def intercept_client(self, next: Any) -> Any:
        tagging = self

        class Outbound(client.OutboundInterceptor):
            async def start_workflow(self, input: Any) -> Any:
                tagging.calls.append(f"start:{tagging.name}")
                return await super().start_workflow(input)

        return Outbound(next)

    def intercept_activity(self, next: Any) -> Any:
        tagging = self

        class Inbound(worker.ActivityInboundInterceptor):
            async def execute_activity(self, input: Any) -> Any:
                tagging.calls.append(f"activity:{tagging.name}")
                return await super().execute_activity(input)

        return Inbound(next)


@workflow.defn
class OneGreeting:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=30)
        )


@activity.defn
async def greet_loudly(name: str) -> str:
    return f"HELLO {name.upper()}"


class _Renaming(worker.WorkflowOutboundInterceptor):
    def start_activity(self, input: Any) -> Any:
        if input.activity == "greet" and workflow.info().workflow_type == "OneGreeting":
            input.activity = "greet_loudly"
        return super().start_activity(input)


class _RenamingInbound(worker.WorkflowInboundInterceptor):
    def init(self, outbound: Any) -> None:
        super().init(_Renaming(outbound))


class Renaming(worker.Interceptor):
    """Sends OneGreeting's ``greet`` to ``greet_loudly`` instead."""

    def workflow_interceptor_class(self, input: Any) -> Any:
        return _RenamingInbound
