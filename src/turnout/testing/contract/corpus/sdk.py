"""Behaviours temporalio's own tests check (tests/worker/test_workflow.py) that the rest
of the contract suite does not: deterministic random numbers across a replay, workflow
time within and across tasks, signal order and arguments, continue-as-new into another
type, a child's parent info, heartbeat details on a retry, failure details through two
boundaries, a query while an activity runs, a cancellation the workflow swallows, a
chosen activity id and timers firing in order."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from turnout import activity, workflow
from turnout.common import RetryPolicy
from turnout.exceptions import ActivityError, ApplicationError
from turnout.testing.contract.corpus.support import Driver, expect_failure, fresh_id, seen, start
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

SECONDS_10 = timedelta(seconds=10)


@workflow.defn
class Dice:
    """Draws from workflow.random() and workflow.uuid4(), then waits for a signal."""

    def __init__(self) -> None:
        self.draws: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> list[str]:
        self.draws = [str(workflow.random().randint(1, 10**9)), str(workflow.uuid4())]
        await workflow.wait_condition(lambda: self.done)
        return self.draws

    @workflow.query
    def drawn(self) -> list[str]:
        """What was drawn."""
        return self.draws

    @workflow.signal
    def finish(self) -> None:
        """Lets the run return."""
        self.done = True


@workflow.defn
class Clock:
    """Reads workflow.now() twice in one task and once after a timer."""

    @workflow.run
    async def run(self) -> list[bool]:
        first, second = workflow.now(), workflow.now()
        await workflow.sleep(timedelta(milliseconds=200))
        later = workflow.now()
        return [first == second, later - first >= timedelta(milliseconds=200)]


@workflow.defn
class Ledger:
    """Signals of two arguments, kept in the order they arrived."""

    def __init__(self) -> None:
        self.entries: list[str] = []

    @workflow.run
    async def run(self, expected: int) -> list[str]:
        await workflow.wait_condition(lambda: len(self.entries) >= expected)
        return self.entries

    @workflow.signal
    def post(self, account: str, amount: int) -> None:
        """Adds an entry."""
        self.entries.append(f"{account}:{amount}")


@workflow.defn
class Sleeper:
    """A child that reports its parent and its task queue."""

    @workflow.run
    async def run(self) -> list[str]:
        parent = workflow.info().parent
        return [parent.workflow_id if parent else "", workflow.info().task_queue]


@workflow.defn
class Guardian:
    """Awaits a child and returns what the child saw and what it is itself."""

    @workflow.run
    async def run(self) -> list[str]:
        seen_by_child = await workflow.execute_child_workflow(
            Sleeper.run, id=f"{workflow.info().workflow_id}-child"
        )
        return [*seen_by_child, workflow.info().workflow_id, workflow.info().task_queue]


@workflow.defn
class Caterpillar:
    """Continues as new as another workflow type, with other arguments."""

    @workflow.run
    async def run(self, name: str) -> list[Any]:
        workflow.continue_as_new(args=[name.upper(), 2], workflow=Butterfly.run)


@workflow.defn
class Butterfly:
    """The type a Caterpillar becomes."""

    @workflow.run
    async def run(self, name: str, wings: int) -> list[Any]:
        info = workflow.info()
        return [info.workflow_type, name, wings, info.continued_run_id is not None]


@activity.defn
async def count_sheep(total: int) -> str:
    """Heartbeats its progress; its first attempt fails halfway, the next resumes."""
    info = activity.info()
    start_at = int(info.heartbeat_details[0]) if info.heartbeat_details else 0
    for sheep in range(start_at, total):
        activity.heartbeat(sheep)
        if info.attempt == 1 and sheep == total // 2:
            raise RuntimeError("fell asleep")
    return f"attempt {info.attempt} resumed at {start_at}"


@activity.defn
async def validate_form(field: str) -> str:
    """Refuses the form with details."""
    raise ApplicationError("form refused", {"field": field}, type="Invalid", non_retryable=True)


@activity.defn
async def wait_for_go(key: str) -> str:
    """Runs until the test says go."""
    await seen(key)
    return "went"


@activity.defn
async def report_own_id() -> str:
    """Returns its activity id."""
    return activity.info().activity_id


@workflow.defn
class Counter:
    """Each of the activity scenarios, by name."""

    def __init__(self) -> None:
        self.phase = "starting"

    @workflow.run
    async def run(self, scenario: str) -> Any:
        retry = RetryPolicy(initial_interval=timedelta(milliseconds=100))
        if scenario == "heartbeat":
            return await workflow.execute_activity(
                count_sheep, 6, start_to_close_timeout=SECONDS_10, retry_policy=retry
            )
        if scenario == "details":
            try:
                await workflow.execute_activity(
                    validate_form, "email", start_to_close_timeout=SECONDS_10
                )
            except ActivityError as err:
                refused = err.cause
                assert isinstance(refused, ApplicationError)
                raise ApplicationError("order refused", *refused.details, type="Wrapped") from err
        if scenario == "query":
            self.phase = "waiting for go"
            await workflow.execute_activity(
                wait_for_go, f"go:{workflow.info().workflow_id}", start_to_close_timeout=SECONDS_10
            )
            self.phase = "gone"
            return self.phase
        return await workflow.execute_activity(
            report_own_id, activity_id="my-own-id", start_to_close_timeout=SECONDS_10
        )

    @workflow.query
    def current(self) -> str:
        """Where the run is."""
        return self.phase


@workflow.defn
class Stoic:
    """Swallows its cancellation and completes."""

    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.sleep(timedelta(hours=1))
        except asyncio.CancelledError:
            return "cancel swallowed"
        return "slept an hour"


@workflow.defn
class Relay:
    """Timers of different lengths started together finish shortest first."""

    @workflow.run
    async def run(self) -> list[str]:
        finished: list[str] = []

        async def runner(name: str, ms: int) -> None:
            await workflow.sleep(timedelta(milliseconds=ms))
            finished.append(name)

        await asyncio.gather(runner("slow", 600), runner("fast", 200), runner("middle", 400))
        return finished


WORKFLOWS = [Dice, Clock, Ledger, Sleeper, Guardian, Caterpillar, Butterfly, Counter, Stoic, Relay]
ACTIVITIES = [count_sheep, validate_form, wait_for_go, report_own_id]


async def deterministic_random(env: ExecutorHarness) -> None:
    task_queue = fresh_id("dice")
    async with Worker(env.client, task_queue=task_queue, workflows=[Dice]):
        handle = await start(env, Dice.run, task_queue=task_queue)
        first = await handle.query(Dice.drawn)
    assert len(first) == 2
    async with Worker(env.client, task_queue=task_queue, workflows=[Dice]):  # replays
        assert await handle.query(Dice.drawn) == first
        await handle.signal(Dice.finish)
        assert await handle.result() == first


async def workflow_now(env: ExecutorHarness) -> None:
    assert await (await start(env, Clock.run)).result() == [True, True]


async def signal_order_and_args(env: ExecutorHarness) -> None:
    handle = await start(env, Ledger.run, 5)
    for n in range(5):
        await handle.signal(Ledger.post, args=[f"acct{n % 2}", n * 10])
    assert await handle.result() == [f"acct{n % 2}:{n * 10}" for n in range(5)]


async def child_parent_info(env: ExecutorHarness) -> None:
    handle = await start(env, Guardian.run)
    parent_id, child_queue, own_id, own_queue = await handle.result()
    assert (parent_id, child_queue) == (own_id, own_queue) == (handle.id, env.task_queue)


async def continue_as_new_other_type(env: ExecutorHarness) -> None:
    handle = await start(env, Caterpillar.run, "monarch")
    assert await handle.result() == ["Butterfly", "MONARCH", 2, True]


async def heartbeat_details_on_retry(env: ExecutorHarness) -> None:
    assert await (await start(env, Counter.run, "heartbeat")).result() == "attempt 2 resumed at 3"


async def failure_details(env: ExecutorHarness) -> None:
    cause = await expect_failure(await start(env, Counter.run, "details"))
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message, list(cause.details)) == (
        "Wrapped", "order refused", [{"field": "email"}]
    )  # fmt: skip
    assert isinstance(cause.cause, ActivityError)
    inner = cause.cause.cause
    assert isinstance(inner, ApplicationError)
    assert (inner.type, inner.non_retryable, list(inner.details)) == (
        "Invalid", True, [{"field": "email"}]
    )  # fmt: skip


async def query_while_activity_runs(env: ExecutorHarness) -> None:
    from turnout.testing.contract.corpus.support import light, recorded

    handle = await start(env, Counter.run, "query")
    await recorded(handle, "activity_scheduled")
    assert await handle.query(Counter.current) == "waiting for go"
    light(f"go:{handle.id}")
    assert await handle.result() == "gone"


async def cancellation_swallowed(env: ExecutorHarness) -> None:
    from turnout.testing.contract.corpus.support import recorded

    handle = await start(env, Stoic.run)
    await recorded(handle, "timer_started")
    await handle.cancel()
    assert await handle.result() == "cancel swallowed"
    assert (await handle.describe()).status.name == "COMPLETED"


async def chosen_activity_id(env: ExecutorHarness) -> None:
    assert await (await start(env, Counter.run, "activity id")).result() == "my-own-id"


async def timers_fire_in_order(env: ExecutorHarness) -> None:
    assert await (await start(env, Relay.run)).result() == ["fast", "middle", "slow"]


SCENARIOS: dict[str, Driver] = {
    f"temporalio_tests/{driver.__name__}": driver
    for driver in (
        deterministic_random, workflow_now, signal_order_and_args,
        child_parent_info, continue_as_new_other_type, heartbeat_details_on_retry,
        failure_details, query_while_activity_runs, cancellation_swallowed,
        chosen_activity_id, timers_fire_in_order,
    )
}  # fmt: skip
"""The scenarios of this group, by the behaviour temporalio's tests check."""
