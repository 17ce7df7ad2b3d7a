"""The behaviours of samples-python's ``hello/`` samples: one activity (sync and async),
choosing an activity from an enum, heartbeats, method activities, retries, failures,
local and parallel activities, a child and continue-as-new."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum

from turnout import activity, workflow
from turnout.common import RetryPolicy
from turnout.exceptions import ActivityError, ApplicationError
from turnout.testing.contract.corpus.support import (
    COMPLETED,
    STARTED,
    Driver,
    activity_steps,
    expect_failure,
    start,
    steps,
)
from turnout.testing.harness import ExecutorHarness

SECONDS_10 = timedelta(seconds=10)
QUICK_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100))


@dataclass
class Salutation:
    """A greeting word and who it is for."""

    word: str
    who: str


@activity.defn
def compose_welcome(salutation: Salutation) -> str:
    """A sync activity (it runs in the worker's thread pool)."""
    return f"{salutation.word}, {salutation.who}."


@activity.defn
async def compose_farewell(salutation: Salutation) -> str:
    """An async activity (it runs on the worker's event loop)."""
    await asyncio.sleep(0)
    return f"{salutation.word} {salutation.who}!"


@workflow.defn
class WelcomeDesk:
    """Greets a guest through one activity, sync or async."""

    @workflow.run
    async def run(self, guest: str, leaving: bool) -> str:
        if leaving:
            return await workflow.execute_activity(
                compose_farewell, Salutation("Farewell", guest), start_to_close_timeout=SECONDS_10
            )
        return await workflow.execute_activity(
            compose_welcome, Salutation("Welcome aboard", guest), start_to_close_timeout=SECONDS_10
        )


class Drink(IntEnum):
    """What the bar serves."""

    TEA = 1
    COFFEE = 2
    JUICE = 3


@dataclass
class DrinkOrder:
    """How many of one drink."""

    drink: Drink
    count: int


@activity.defn
def brew_tea(count: int) -> str:
    """Makes tea."""
    return f"{count} tea"


@activity.defn
def brew_coffee(count: int) -> str:
    """Makes coffee."""
    return f"{count} coffee"


@activity.defn
def pour_juice(count: int) -> str:
    """Pours juice."""
    return f"{count} juice"


@workflow.defn
class BarTab:
    """Picks the activity for each order from the drink's enum value."""

    @workflow.run
    async def run(self, orders: list[DrinkOrder]) -> str:
        station = {Drink.TEA: brew_tea, Drink.COFFEE: brew_coffee, Drink.JUICE: pour_juice}
        served = []
        for order in orders:
            served.append(
                await workflow.execute_activity(
                    station[order.drink], order.count, start_to_close_timeout=SECONDS_10
                )
            )
        return " + ".join(served)


@activity.defn
def sand_plank(strokes: int) -> str:
    """A sync activity that heartbeats its progress while it works."""
    for stroke in range(1, strokes + 1):
        time.sleep(0.02)
        activity.heartbeat(stroke)
    return f"smooth after {strokes} strokes"


@workflow.defn
class Workshop:
    """Runs an activity under a heartbeat timeout."""

    @workflow.run
    async def run(self, strokes: int) -> str:
        return await workflow.execute_activity(
            sand_plank,
            strokes,
            start_to_close_timeout=SECONDS_10,
            heartbeat_timeout=timedelta(seconds=2),
        )


class Pantry:
    """Activities as methods of an object the worker holds (a shared resource)."""

    def __init__(self) -> None:
        self.taken: dict[str, list[str]] = {}

    @activity.defn
    async def take_jar(self, jar: str) -> int:
        """Notes the jar against the run asking for it; returns how many it took."""
        shelf = self.taken.setdefault(activity.info().workflow_id, [])
        shelf.append(jar)
        return len(shelf)


PANTRY = Pantry()


@workflow.defn
class Baker:
    """Calls a method activity by its unbound method."""

    @workflow.run
    async def run(self, jars: list[str]) -> int:
        count = 0
        for jar in jars:
            count = await workflow.execute_activity_method(
                Pantry.take_jar, jar, start_to_close_timeout=SECONDS_10
            )
        return count


@activity.defn
def knock_until_answered(door: str) -> str:
    """Fails its first two attempts."""
    attempt = activity.info().attempt
    if attempt < 3:
        raise RuntimeError(f"nobody at {door} yet")
    return f"{door} opened on knock {attempt}"


@activity.defn
def jammed_lock(door: str) -> str:
    """Always fails."""
    raise RuntimeError(f"the lock of {door} is jammed")


@workflow.defn
class Doorman:
    """An activity retried by its policy: until it succeeds, or out of attempts."""

    @workflow.run
    async def run(self, door: str, jammed: bool) -> str:
        if jammed:
            return await workflow.execute_activity(
                jammed_lock,
                door,
                start_to_close_timeout=SECONDS_10,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=100), maximum_attempts=2
                ),
            )
        return await workflow.execute_activity(
            knock_until_answered,
            door,
            start_to_close_timeout=SECONDS_10,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100),
                maximum_interval=timedelta(milliseconds=200),
            ),
        )


@workflow.defn
class LocalClerk:
    """Runs its activity as a local activity."""

    @workflow.run
    async def run(self, guest: str) -> str:
        return await workflow.execute_local_activity(
            compose_welcome, Salutation("Stamped", guest), start_to_close_timeout=SECONDS_10
        )


@activity.defn
async def weigh_parcel(parcel: str) -> str:
    """Returns a parcel's label and weight."""
    return f"{parcel}:{len(parcel)}kg"


@workflow.defn
class SortingOffice:
    """Runs one activity per parcel at once and gathers the results."""

    @workflow.run
    async def run(self, parcels: list[str]) -> list[str]:
        weighed = await asyncio.gather(
            *(
                workflow.execute_activity(weigh_parcel, p, start_to_close_timeout=SECONDS_10)
                for p in parcels
            )
        )
        return sorted(weighed)


@workflow.defn
class Apprentice:
    """The child: works on what its parent hands it."""

    @workflow.run
    async def run(self, task: Salutation) -> str:
        return f"{task.who} did {task.word}"


@workflow.defn
class Master:
    """Runs a child workflow with an id of its own choosing."""

    @workflow.run
    async def run(self, chore: str) -> str:
        done = await workflow.execute_child_workflow(
            Apprentice.run, Salutation(chore, "apprentice"), id=f"{workflow.info().workflow_id}-kid"
        )
        return f"master saw: {done}"


@workflow.defn
class Countdown:
    """Continues as new, with a shorter count, until the count is spent."""

    @workflow.run
    async def run(self, left: int, heard: list[int]) -> list[int]:
        heard = [*heard, left]
        if left == 0:
            return heard
        await workflow.sleep(timedelta(milliseconds=50))
        workflow.continue_as_new(args=[left - 1, heard])


WORKFLOWS = [
    WelcomeDesk, BarTab, Workshop, Baker, Doorman, LocalClerk, SortingOffice, Apprentice,
    Master, Countdown,
]  # fmt: skip
ACTIVITIES = [
    compose_welcome, compose_farewell, brew_tea, brew_coffee, pour_juice, sand_plank,
    PANTRY.take_jar, knock_until_answered, jammed_lock, weigh_parcel,
]  # fmt: skip


async def hello_activity(env: ExecutorHarness) -> None:
    handle = await start(env, WelcomeDesk.run, "Ines", False)
    assert await handle.result() == "Welcome aboard, Ines."
    assert await steps(handle) == [STARTED, *activity_steps("compose_welcome"), COMPLETED]


async def hello_activity_async(env: ExecutorHarness) -> None:
    handle = await start(env, WelcomeDesk.run, "Tove", True)
    assert await handle.result() == "Farewell Tove!"
    assert await steps(handle) == [STARTED, *activity_steps("compose_farewell"), COMPLETED]


async def hello_activity_choice(env: ExecutorHarness) -> None:
    orders = [DrinkOrder(Drink.COFFEE, 2), DrinkOrder(Drink.JUICE, 1), DrinkOrder(Drink.TEA, 3)]
    handle = await start(env, BarTab.run, orders)
    assert await handle.result() == "2 coffee + 1 juice + 3 tea"
    assert await steps(handle) == [
        STARTED, *activity_steps("brew_coffee", "pour_juice", "brew_tea"), COMPLETED
    ]  # fmt: skip


async def hello_activity_heartbeat(env: ExecutorHarness) -> None:
    handle = await start(env, Workshop.run, 5)
    assert await handle.result() == "smooth after 5 strokes"
    assert await steps(handle) == [STARTED, *activity_steps("sand_plank"), COMPLETED]


async def hello_activity_method(env: ExecutorHarness) -> None:
    handle = await start(env, Baker.run, ["flour", "sugar", "yeast"])
    assert await handle.result() == 3
    assert PANTRY.taken[handle.id] == ["flour", "sugar", "yeast"]


async def hello_activity_retry(env: ExecutorHarness) -> None:
    handle = await start(env, Doorman.run, "door 7", False)
    assert await handle.result() == "door 7 opened on knock 3"
    assert await steps(handle) == [
        STARTED,
        ("activity_scheduled", {"activity_type": "knock_until_answered"}),
        ("activity_completed", {"activity_type": "knock_until_answered", "attempt": 3}),
        COMPLETED,
    ]


async def hello_exception(env: ExecutorHarness) -> None:
    handle = await start(env, Doorman.run, "door 9", True)
    cause = await expect_failure(handle)
    assert isinstance(cause, ActivityError)
    inner = cause.cause
    assert isinstance(inner, ApplicationError)
    assert (inner.type, inner.message) == ("RuntimeError", "the lock of door 9 is jammed")
    assert inner.failure is not None
    assert "jammed_lock" in (inner.failure.stack_trace or "")
    assert await steps(handle) == [
        STARTED,
        ("activity_scheduled", {"activity_type": "jammed_lock"}),
        ("activity_failed", {"activity_type": "jammed_lock", "attempt": 2}),
        ("workflow_failed", {}),
    ]


async def hello_local_activity(env: ExecutorHarness) -> None:
    handle = await start(env, LocalClerk.run, "Oskar")
    assert await handle.result() == "Stamped, Oskar."
    marker = ("marker_recorded", {"marker": "local_activity", "activity_type": "compose_welcome"})
    assert await steps(handle) == [STARTED, marker, COMPLETED]


async def hello_parallel_activity(env: ExecutorHarness) -> None:
    parcels = ["lamp", "rug", "kettle", "piano", "vase"]
    handle = await start(env, SortingOffice.run, parcels)
    assert await handle.result() == sorted(f"{p}:{len(p)}kg" for p in parcels)
    timeline = await steps(handle)
    assert (timeline[0], timeline[-1]) == (STARTED, COMPLETED)
    assert Counter(kind for kind, _ in timeline[1:-1]) == {
        "activity_scheduled": 5,
        "activity_completed": 5,
    }


async def hello_child_workflow(env: ExecutorHarness) -> None:
    handle = await start(env, Master.run, "sweeping")
    assert await handle.result() == "master saw: apprentice did sweeping"
    child = env.client.get_workflow_handle(f"{handle.id}-kid")
    assert await child.result() == "apprentice did sweeping"
    assert await steps(handle) == [
        STARTED,
        ("child_workflow_started", {"workflow_type": "Apprentice"}),
        ("child_workflow_completed", {}),
        COMPLETED,
    ]


async def hello_continue_as_new(env: ExecutorHarness) -> None:
    handle = await start(env, Countdown.run, 3, [])
    assert await handle.result() == [3, 2, 1, 0]
    # The start handle follows the workflow id's latest run; the first run by its id.
    first = env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    assert (await first.describe()).status.name == "CONTINUED_AS_NEW"
    assert (await handle.describe()).status.name == "COMPLETED"
    assert await steps(first) == [
        STARTED,
        ("timer_started", {"duration": 0.05}),
        ("timer_fired", {}),
        ("workflow_continued_as_new", {}),
    ]


SCENARIOS: dict[str, Driver] = {
    "hello_activity": hello_activity,
    "hello_activity_async": hello_activity_async,
    "hello_activity_choice": hello_activity_choice,
    "hello_activity_heartbeat": hello_activity_heartbeat,
    "hello_activity_method": hello_activity_method,
    "hello_activity_retry": hello_activity_retry,
    "hello_exception": hello_exception,
    "hello_local_activity": hello_local_activity,
    "hello_parallel_activity": hello_parallel_activity,
    "hello_child_workflow": hello_child_workflow,
    "hello_continue_as_new": hello_continue_as_new,
}
"""The scenarios of this group, by the sample whose behaviour each exercises."""
