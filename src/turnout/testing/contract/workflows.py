"""The workflows and activities of the contract scenarios: plain turnout code, no executor."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from turnout import ApplicationError, RetryPolicy, activity, workflow

QUICK: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=10)}
FAST_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=5)
ONCE = RetryPolicy(maximum_attempts=1)


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn
async def flaky(fail_times: int) -> int:
    attempt = activity.info().attempt
    if attempt <= fail_times:
        raise ApplicationError(f"attempt {attempt} fails", type="Flaky")
    return attempt


@activity.defn
async def broken() -> str:
    raise ApplicationError("this input can never work", type="BadInput", non_retryable=True)


@activity.defn
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "finished"


@activity.defn
async def stall_after_one_beat() -> str:
    activity.heartbeat("alive")
    await asyncio.sleep(3)
    return "too late"


RUNNING_ACTIVITIES: set[str] = set()
"""Workflow ids whose ``wait_for_cancel`` activity is running (the harness runs the
worker in the test's process; Temporal writes ActivityTaskStarted to history only
when an attempt ends, so history cannot tell that an activity is running)."""


@activity.defn
async def wait_for_cancel() -> str:
    RUNNING_ACTIVITIES.add(activity.info().workflow_id)
    while True:
        activity.heartbeat()
        await asyncio.sleep(0.05)


class Order(BaseModel):
    order_id: str
    amount: int


class Receipt(BaseModel):
    order_id: str
    total: int


@dataclass
class Line:
    sku: str
    qty: int


@activity.defn
async def price(order: Order) -> Receipt:
    return Receipt(order_id=order.order_id, total=order.amount * 2)


@activity.defn
def count_lines(lines: list[Line]) -> int:
    """A sync activity (thread pool on both executors)."""
    return sum(line.qty for line in lines)


@workflow.defn
class Greeting:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, **QUICK)


@workflow.defn
class RetryThenSucceed:
    @workflow.run
    async def run(self, fail_times: int) -> int:
        return await workflow.execute_activity(flaky, fail_times, retry_policy=FAST_RETRY, **QUICK)


@workflow.defn
class NonRetryable:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(broken, retry_policy=FAST_RETRY, **QUICK)


@workflow.defn
class StartToCloseTimeout:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            slow, 2.0, start_to_close_timeout=timedelta(milliseconds=300), retry_policy=ONCE
        )


@workflow.defn
class ScheduleToCloseTimeout:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            slow, 2.0, schedule_to_close_timeout=timedelta(milliseconds=500)
        )


@workflow.defn
class HeartbeatTimeout:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            stall_after_one_beat,
            heartbeat_timeout=timedelta(milliseconds=500),
            retry_policy=ONCE,
            **QUICK,
        )


@workflow.defn
class Signals:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.items

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def count(self) -> int:
        return len(self.items)


@workflow.defn
class TypedSignals:
    """Signals whose arguments must fit ``add(n: int)``; others are dropped."""

    def __init__(self) -> None:
        self.numbers: list[int] = []
        self.done = False

    @workflow.run
    async def run(self) -> list[int]:
        await workflow.wait_condition(lambda: self.done)
        return self.numbers

    @workflow.signal
    def add(self, n: int) -> None:
        self.numbers.append(n)

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@workflow.defn
class ConditionTimeout:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.wait_condition(lambda: False, timeout=timedelta(milliseconds=300))
        except TimeoutError:
            return "timed out"
        return "condition met"


@workflow.defn
class Timer:
    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(milliseconds=500))
        return "woke"


@workflow.defn
class Child:
    @workflow.run
    async def run(self, name: str) -> str:
        if name == "fail":
            raise ApplicationError("child refuses", type="ChildRefused")
        return f"child says hi to {name}"


@workflow.defn
class Parent:
    @workflow.run
    async def run(self, name: str) -> str:
        result = await workflow.execute_child_workflow(
            Child.run, name, id=f"{workflow.info().workflow_id}-child"
        )
        return f"parent got: {result}"


@workflow.defn
class CancelWithCleanup:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity(
                wait_for_cancel, heartbeat_timeout=timedelta(seconds=2), **QUICK
            )
        except asyncio.CancelledError:
            await workflow.execute_activity(greet, "cleanup", **QUICK)
            raise
        return "not canceled"


@workflow.defn
class Sleeper:
    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(hours=1))
        return "woke"


@workflow.defn
class Countdown:
    @workflow.run
    async def run(self, n: int, total: int) -> int:
        if n > 0:
            workflow.continue_as_new(args=[n - 1, total + n])
        return total


@workflow.defn
class Pricing:
    @workflow.run
    async def run(self, order: Order) -> Receipt:
        return await workflow.execute_activity(price, order, **QUICK)


@workflow.defn
class Lines:
    @workflow.run
    async def run(self, lines: list[Line]) -> int:
        return await workflow.execute_activity(count_lines, lines, **QUICK)


@workflow.defn
class Patched:
    @workflow.run
    async def run(self) -> str:
        if workflow.patched("greet-first"):
            await workflow.execute_activity(greet, "patched", **QUICK)
        return "done"


@activity.defn
async def publish(name: str) -> str:
    artifact = await activity.record_artifact(
        name, f"file:///out/{name}.txt", media_type="text/plain", size=5, digest="sha256:ab"
    )
    return artifact.name


@workflow.defn
class Approval:
    """Waits on a human decision, then publishes (which records an artifact) if approved."""

    @workflow.run
    async def run(self, timeout_s: float | None = None) -> str:
        decision = await workflow.request_approval(
            "publish", details={"what": "report"}, timeout=timeout_s
        )
        if not decision.approved:
            return decision.outcome.value
        return str(await workflow.execute_activity(publish, "report", **QUICK))


WORKFLOWS: list[type] = [
    Greeting,
    RetryThenSucceed,
    NonRetryable,
    StartToCloseTimeout,
    ScheduleToCloseTimeout,
    HeartbeatTimeout,
    Signals,
    TypedSignals,
    ConditionTimeout,
    Timer,
    Child,
    Parent,
    CancelWithCleanup,
    Sleeper,
    Countdown,
    Pricing,
    Lines,
    Patched,
    Approval,
]
ACTIVITIES: list[Callable[..., Any]] = [
    greet,
    flaky,
    broken,
    slow,
    stall_after_one_beat,
    wait_for_cancel,
    price,
    count_lines,
    publish,
]
