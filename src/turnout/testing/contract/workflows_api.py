"""The workflows of the scenarios in ``test_workflow_api``: plain turnout code."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from turnout import ApplicationError, workflow
from turnout.testing.contract.workflows import QUICK, Order, greet

GATES = ("a", "b", "c")


@workflow.defn
class InitFromInput:
    """Its object is made with the run's input, so handlers see it before the run starts."""

    @workflow.init
    def __init__(self, order: Order, greeting: str) -> None:
        self.line = f"{greeting}, {order.order_id} from {workflow.info().workflow_type}"
        self.items: list[str] = []

    @workflow.run
    async def run(self, order: Order, greeting: str) -> str:
        await workflow.wait_condition(lambda: bool(self.items))
        return f"{self.line}: {order.amount} x {self.items}"

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.query
    def greeting_line(self) -> str:
        return self.line


@workflow.defn
class Gates:
    """Tasks that each wait until a signal opens their gate; ``mode`` says how the run
    waits for them. After each wait it runs the ``greet`` activity, so a test can see in
    the history that the wait is over before it opens the next gate."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.seen: list[Any] = []

    @workflow.run
    async def run(self, mode: str) -> list[Any]:
        if mode == "as_completed":
            for next_done in workflow.as_completed([self._gate(name) for name in GATES]):
                await self._saw(await next_done)
            return self.seen
        tasks = [asyncio.create_task(self._gate(name)) for name in GATES]
        if mode == "workflow.wait":
            done, pending = await workflow.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            await self._saw([[t.result() for t in done], [GATES[tasks.index(t)] for t in pending]])
            done, pending = await workflow.wait(pending)
            await self._saw([t.result() for t in done])
        elif mode == "asyncio.wait":
            done_set, pending_set = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            await self._saw(sorted(t.result() for t in done_set))
            done_set, _ = await asyncio.wait(pending_set)
            await self._saw(sorted(t.result() for t in done_set))
        return self.seen

    async def _gate(self, name: str) -> str:
        await workflow.wait_condition(lambda: name in self.opened)
        return name

    async def _saw(self, what: Any) -> None:
        self.seen.append(what)
        await workflow.execute_activity(greet, str(len(self.seen)), **QUICK)

    @workflow.signal
    def open(self, name: str) -> None:
        self.opened.append(name)


async def _refuse() -> str:
    raise ApplicationError("refused", type="Refused")


@workflow.defn
class WaitTimeouts:
    """``workflow.wait`` and ``workflow.as_completed`` with timeouts, and FIRST_EXCEPTION."""

    @workflow.run
    async def run(self) -> list[Any]:
        outcomes: list[Any] = []
        never: asyncio.Task[Any] = asyncio.create_task(workflow.wait_condition(lambda: False))
        done, pending = await workflow.wait([never], timeout=0.3)
        outcomes.append(["timed out", len(done), len(pending)])
        try:
            for next_done in workflow.as_completed([never], timeout=0.2):
                await next_done
        except TimeoutError:
            outcomes.append("as_completed timed out")
        refused: asyncio.Task[Any] = asyncio.create_task(_refuse())
        done, pending = await workflow.wait([never, refused], return_when=asyncio.FIRST_EXCEPTION)
        error = refused.exception()
        outcomes.append([done == [refused], pending == [never], type(error).__name__])
        greeting = workflow.start_activity(greet, "wait", **QUICK)
        done, pending = await workflow.wait([greeting], timeout=60)
        outcomes.append([len(done), len(pending), greeting.result()])
        never.cancel()
        return outcomes


@workflow.defn
class HandlersFinish:
    """Returns only once its async ``hello`` handlers are done, whatever ``finish`` says."""

    def __init__(self) -> None:
        self.released = False
        self.finishing = False
        self.greetings: list[str] = []
        self.checks: list[bool] = []

    @workflow.run
    async def run(self) -> dict[str, Any]:
        await workflow.wait_condition(lambda: self.finishing)
        self.checks.append(workflow.all_handlers_finished())
        await workflow.wait_condition(workflow.all_handlers_finished)
        self.checks.append(workflow.all_handlers_finished())
        return {"checks": self.checks, "greetings": self.greetings}

    @workflow.signal
    async def hello(self, name: str) -> None:
        await workflow.wait_condition(lambda: self.released)
        self.greetings.append(await workflow.execute_activity(greet, name, **QUICK))

    @workflow.signal
    def finish(self) -> None:
        self.finishing = True

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.query
    def checked(self) -> list[bool]:
        return self.checks


WORKFLOWS: list[type] = [InitFromInput, Gates, WaitTimeouts, HandlersFinish]
ACTIVITIES: list[Callable[..., Any]] = [greet]
