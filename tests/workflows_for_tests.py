"""Workflows and activities shared by the integration tests (importable by worker subprocesses)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel

from turnout import ApplicationError, RetryPolicy, activity, workflow

CALLS: Counter[str] = Counter()
"""Activity executions in this process, by key."""

FAST_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=5)


@activity.defn
async def greet(name: str) -> str:
    CALLS[f"greet:{name}"] += 1
    return f"Hello, {name}!"


@activity.defn
def shout(text: str) -> str:
    """A sync activity: runs in the worker's thread pool."""
    return text.upper()


@activity.defn
async def flaky(key: str, fail_times: int) -> int:
    CALLS[f"flaky:{key}"] += 1
    attempt = activity.info().attempt
    if attempt <= fail_times:
        raise ApplicationError(f"attempt {attempt} fails", type="Flaky")
    return attempt


@activity.defn
async def broken(key: str) -> str:
    CALLS[f"broken:{key}"] += 1
    raise ApplicationError("this input can never work", type="BadInput", non_retryable=True)


@activity.defn
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "finished"


@activity.defn
async def wait_for_cancel(key: str) -> str:
    CALLS[f"cancel:{key}"] += 1
    try:
        while True:
            activity.heartbeat("waiting")
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        CALLS[f"cancelled:{key}"] += 1
        raise


class Order(BaseModel):
    order_id: str
    amount: int


class Receipt(BaseModel):
    order_id: str
    total: int
    approved: bool


@dataclass
class Line:
    sku: str
    qty: int


@activity.defn
async def price(order: Order) -> Receipt:
    return Receipt(order_id=order.order_id, total=order.amount * 2, approved=True)


@activity.defn
async def count_lines(lines: list[Line]) -> int:
    return sum(line.qty for line in lines)


ACTIVITY = {"start_to_close_timeout": timedelta(seconds=10)}


@workflow.defn
class HelloWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        greeting = await workflow.execute_activity(greet, name, **ACTIVITY)
        return await workflow.execute_activity(shout, greeting, **ACTIVITY)


@workflow.defn
class ParallelWorkflow:
    @workflow.run
    async def run(self, names: list[str]) -> list[str]:
        return list(
            await asyncio.gather(*(workflow.execute_activity(greet, n, **ACTIVITY) for n in names))
        )


@workflow.defn
class RetryWorkflow:
    @workflow.run
    async def run(self, key: str, fail_times: int) -> int:
        return await workflow.execute_activity(
            flaky, args=[key, fail_times], retry_policy=FAST_RETRY, **ACTIVITY
        )


@workflow.defn
class BrokenWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(broken, key, retry_policy=FAST_RETRY, **ACTIVITY)


@workflow.defn
class TimeoutWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        return await workflow.execute_activity(
            slow,
            seconds,
            start_to_close_timeout=timedelta(milliseconds=300),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@workflow.defn
class SignalWorkflow:
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

    @workflow.signal(name="finish")
    async def finish(self) -> None:
        self.done = True

    @workflow.query
    def count(self) -> int:
        return len(self.items)


@workflow.defn
class ConditionTimeoutWorkflow:
    def __init__(self) -> None:
        self.ready = False

    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.wait_condition(lambda: self.ready, timeout=timedelta(milliseconds=300))
        except TimeoutError:
            return "timed out"
        return "ready"


@workflow.defn
class TimerWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> float:
        start = workflow.now()
        await workflow.sleep(seconds)
        await asyncio.sleep(0.05)  # asyncio.sleep is a durable timer too
        return (workflow.now() - start).total_seconds()


@workflow.defn
class ChildWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        if name == "fail":
            raise ApplicationError("child refuses", type="ChildRefused")
        return await workflow.execute_activity(greet, name, **ACTIVITY)


@workflow.defn
class ParentWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        result = await workflow.execute_child_workflow(
            ChildWorkflow.run, name, id=f"{workflow.info().workflow_id}-child"
        )
        return f"parent got: {result}"


@workflow.defn
class CancellableWorkflow:
    def __init__(self) -> None:
        self.cleaned_up = False

    @workflow.run
    async def run(self, key: str) -> str:
        try:
            await workflow.execute_activity(
                wait_for_cancel, key, heartbeat_timeout=timedelta(seconds=2), **ACTIVITY
            )
            return "not canceled"
        except asyncio.CancelledError:
            await workflow.execute_activity(greet, f"cleanup-{key}", **ACTIVITY)
            raise


@workflow.defn
class SleepyWorkflow:
    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(3600)
        return "woke"


@workflow.defn
class CountdownWorkflow:
    @workflow.run
    async def run(self, n: int, total: int) -> int:
        if n > 0:
            workflow.continue_as_new(args=[n - 1, total + n])
        return total


@workflow.defn
class OrderWorkflow:
    @workflow.run
    async def run(self, order: Order) -> Receipt:
        return await workflow.execute_activity(price, order, **ACTIVITY)


@workflow.defn
class LinesWorkflow:
    @workflow.run
    async def run(self, lines: list[Line]) -> int:
        return await workflow.execute_activity(count_lines, lines, **ACTIVITY)


@workflow.defn
class DeterminismWorkflow:
    """Waits for a signal between two activities, so a code change can land in between."""

    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> str:
        await workflow.execute_activity(greet, "one", **ACTIVITY)
        await workflow.wait_condition(lambda: self.go)
        return await workflow.execute_activity(greet, "two", **ACTIVITY)

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


@workflow.defn(name="DeterminismWorkflow")
class DeterminismWorkflowChanged:
    """The same type after a careless change: a new first activity."""

    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> str:
        await workflow.execute_activity(shout, "new step", **ACTIVITY)
        await workflow.execute_activity(greet, "one", **ACTIVITY)
        await workflow.wait_condition(lambda: self.go)
        return await workflow.execute_activity(greet, "two", **ACTIVITY)

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


@workflow.defn(name="DeterminismWorkflow")
class DeterminismWorkflowPatched:
    """The same change made safe with workflow.patched()."""

    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> str:
        if workflow.patched("add-shout"):
            await workflow.execute_activity(shout, "new step", **ACTIVITY)
        await workflow.execute_activity(greet, "one", **ACTIVITY)
        await workflow.wait_condition(lambda: self.go)
        return await workflow.execute_activity(greet, "two", **ACTIVITY)

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


@activity.defn
async def record(key: str) -> str:
    return key


@workflow.defn
class DrainWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        # A long timeout: the drain test is about claims, not about timeouts under load.
        return await workflow.execute_activity(
            record, key, start_to_close_timeout=timedelta(seconds=120)
        )


ALL_WORKFLOWS = [
    HelloWorkflow,
    ParallelWorkflow,
    RetryWorkflow,
    BrokenWorkflow,
    TimeoutWorkflow,
    SignalWorkflow,
    ConditionTimeoutWorkflow,
    TimerWorkflow,
    ChildWorkflow,
    ParentWorkflow,
    CancellableWorkflow,
    SleepyWorkflow,
    CountdownWorkflow,
    OrderWorkflow,
    LinesWorkflow,
    DrainWorkflow,
]
ALL_ACTIVITIES = [
    greet,
    shout,
    flaky,
    broken,
    slow,
    wait_for_cancel,
    price,
    count_lines,
    record,
]


@activity.defn
async def crashy(marker_dir: str) -> str:
    """The first attempt hangs (its worker gets killed); later attempts succeed."""
    from pathlib import Path

    info = activity.info()
    Path(marker_dir, f"attempt-{info.attempt}").write_text(str(info.attempt))
    if info.attempt == 1:
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.1)
    return f"done on attempt {info.attempt}"


@workflow.defn
class CrashWorkflow:
    @workflow.run
    async def run(self, marker_dir: str) -> str:
        return await workflow.execute_activity(
            crashy,
            marker_dir,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )


IN_FLIGHT: Counter[str] = Counter()
PEAK: Counter[str] = Counter()


@activity.defn
async def tracked(key: str) -> int:
    """Counts how many of its kind run at once."""
    IN_FLIGHT[key] += 1
    PEAK[key] = max(PEAK[key], IN_FLIGHT[key])
    try:
        await asyncio.sleep(0.1)
    finally:
        IN_FLIGHT[key] -= 1
    return 1


@workflow.defn
class FanOutWorkflow:
    @workflow.run
    async def run(self, key: str, n: int) -> int:
        results = await asyncio.gather(
            *(workflow.execute_activity(tracked, key, **ACTIVITY) for _ in range(n))
        )
        return sum(results)


@activity.defn
async def hold(key: str) -> str:
    """The first call holds until its worker stops; later calls finish at once."""
    CALLS[f"hold:{key}"] += 1
    if CALLS[f"hold:{key}"] == 1:
        await asyncio.sleep(3600)
    return f"done on attempt {activity.info().attempt}"


@workflow.defn
class HoldWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(hold, key, **ACTIVITY)


@activity.defn
async def resumable(total: int) -> list[int]:
    """Heartbeats its progress quickly, fails once, and resumes from the last heartbeat."""
    info = activity.info()
    start = int(info.heartbeat_details[0]) if info.heartbeat_details else 0
    if info.attempt == 1:
        for done in range(1, total + 1):
            activity.heartbeat(done)
        raise ApplicationError("crashed after the last heartbeat", type="Crash")
    return [info.attempt, start]


@workflow.defn
class ResumeWorkflow:
    @workflow.run
    async def run(self, total: int) -> list[int]:
        return await workflow.execute_activity(
            resumable,
            total,
            heartbeat_timeout=timedelta(seconds=5),
            retry_policy=FAST_RETRY,
            **ACTIVITY,
        )


ALL_WORKFLOWS.append(ResumeWorkflow)
ALL_ACTIVITIES.append(resumable)


@workflow.defn
class StartThenCancelWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        handle = workflow.start_activity(greet, name, **ACTIVITY)
        handle.cancel()
        try:
            await handle
        except asyncio.CancelledError:
            return "canceled before it ran"
        return "ran"


ALL_WORKFLOWS.append(StartThenCancelWorkflow)


@activity.defn
async def mistyped() -> int:
    return "not a number"  # type: ignore[return-value]  # deliberately wrong


@workflow.defn
class MistypedWorkflow:
    @workflow.run
    async def run(self) -> int:
        return await workflow.execute_activity(mistyped, **ACTIVITY)


ALL_WORKFLOWS.append(MistypedWorkflow)
ALL_ACTIVITIES.append(mistyped)
