"""The behaviours of samples-python's ``dsl`` (a workflow interpreting a plan of
activities called by name, in series and in parallel), ``pydantic_converter`` (pydantic
models through a workflow and an activity, with ``Client.connect(...,
data_converter=pydantic_data_converter)``) and ``custom_decorator`` (an activity decorator
that heartbeats for the activity it wraps)."""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from ipaddress import IPv4Address
from typing import Annotated, Any, Literal, TypeVar, cast

from pydantic import BaseModel, Field

from turnout import activity, workflow
from turnout.client import Client
from turnout.common import RetryPolicy
from turnout.contrib.pydantic import pydantic_data_converter
from turnout.testing.contract.corpus.support import (
    COMPLETED,
    STARTED,
    Driver,
    activity_steps,
    fresh_id,
    start,
    steps,
)
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker


class Task(BaseModel):
    """Run one activity by name on named inputs, keeping its result under ``output``."""

    kind: Literal["task"] = "task"
    activity: str
    inputs: list[str] = []
    output: str | None = None


class Series(BaseModel):
    """Run the parts one after another."""

    kind: Literal["series"] = "series"
    parts: list[Plan]


class Together(BaseModel):
    """Run the parts at once."""

    kind: Literal["together"] = "together"
    parts: list[Plan]


Plan = Annotated[Task | Series | Together, Field(discriminator="kind")]


class Recipe(BaseModel):
    """A plan and the values it starts from."""

    plan: Plan
    pantry: dict[str, str] = {}


Series.model_rebuild()
Together.model_rebuild()
Recipe.model_rebuild()


@activity.defn
async def chop(what: str) -> str:
    """A kitchen step."""
    return f"chopped {what}"


@activity.defn
async def whisk(what: str) -> str:
    """A kitchen step."""
    return f"whisked {what}"


@activity.defn
async def combine(first: str, second: str) -> str:
    """A kitchen step of two inputs."""
    return f"{first} with {second}"


@workflow.defn
class Kitchen:
    """Interprets a recipe."""

    @workflow.run
    async def run(self, recipe: Recipe) -> dict[str, str]:
        self.pantry = dict(recipe.pantry)
        await self.follow(recipe.plan)
        return self.pantry

    async def follow(self, plan: Task | Series | Together) -> None:
        if isinstance(plan, Task):
            result = await workflow.execute_activity(
                plan.activity,
                args=[self.pantry[name] for name in plan.inputs],
                start_to_close_timeout=timedelta(seconds=10),
                result_type=str,
            )
            if plan.output:
                self.pantry[plan.output] = result
        elif isinstance(plan, Series):
            for part in plan.parts:
                await self.follow(part)
        else:
            await asyncio.gather(*(self.follow(part) for part in plan.parts))


class Sensor(BaseModel):
    """A value of types plain JSON does not have."""

    address: IPv4Address
    seen_at: datetime
    reading: Decimal


@activity.defn
async def calibrate(sensors: list[Sensor]) -> list[Sensor]:
    """Returns the sensors with their readings doubled."""
    return [s.model_copy(update={"reading": s.reading * 2}) for s in sensors]


@workflow.defn
class Lab:
    """Passes pydantic models to an activity and returns what it got back."""

    @workflow.run
    async def run(self, sensors: list[Sensor]) -> list[Sensor]:
        return await workflow.execute_activity(
            calibrate, sensors, start_to_close_timeout=timedelta(seconds=10)
        )


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def keeps_pulse(fn: F) -> F:
    """Heartbeats for the wrapped activity at half its heartbeat timeout."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        timeout = activity.info().heartbeat_timeout
        pulse = asyncio.create_task(_beat(timeout / 2)) if timeout else None
        try:
            return await fn(*args, **kwargs)
        finally:
            if pulse is not None:
                pulse.cancel()
                await asyncio.wait([pulse])

    return cast(F, wrapper)


async def _beat(every: timedelta) -> None:
    while True:
        await asyncio.sleep(every.total_seconds())
        activity.heartbeat()


@activity.defn
@keeps_pulse
async def stand_guard(post: str, seconds: float) -> str:
    """Guards for longer than its heartbeat timeout, never heartbeating itself."""
    await asyncio.sleep(seconds)
    return f"{post} guarded for {seconds} s"


@workflow.defn
class Sentry:
    """Runs an activity that outlives its heartbeat timeout thanks to the decorator."""

    @workflow.run
    async def run(self, post: str) -> str:
        return await workflow.execute_activity(
            stand_guard,
            args=[post, 1.5],
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


WORKFLOWS = [Kitchen, Lab, Sentry]
ACTIVITIES = [chop, whisk, combine, calibrate, stand_guard]


async def dsl(env: ExecutorHarness) -> None:
    recipe = Recipe.model_validate(
        {
            "pantry": {"veg": "leeks", "egg": "eggs"},
            "plan": {
                "kind": "series",
                "parts": [
                    {
                        "kind": "together",
                        "parts": [
                            {
                                "kind": "task",
                                "activity": "chop",
                                "inputs": ["veg"],
                                "output": "base",
                            },
                            {
                                "kind": "task",
                                "activity": "whisk",
                                "inputs": ["egg"],
                                "output": "batter",
                            },
                        ],
                    },
                    {
                        "kind": "task",
                        "activity": "combine",
                        "inputs": ["base", "batter"],
                        "output": "quiche",
                    },
                ],
            },
        }
    )
    handle = await start(env, Kitchen.run, recipe)
    pantry = await handle.result()
    assert pantry["quiche"] == "chopped leeks with whisked eggs"
    timeline = await steps(handle)
    assert timeline[-3:] == [
        ("activity_scheduled", {"activity_type": "combine"}),
        ("activity_completed", {"activity_type": "combine", "attempt": 1}),
        COMPLETED,
    ]
    assert Counter(kind for kind, _ in timeline[1:-3]) == {
        "activity_scheduled": 2,
        "activity_completed": 2,
    }


async def pydantic_converter(env: ExecutorHarness) -> None:
    client = await Client.connect(env.target, data_converter=pydantic_data_converter)
    try:
        task_queue = fresh_id("lab")
        sensors = [
            Sensor(address=IPv4Address(ip), seen_at=at, reading=Decimal(value))
            for ip, at, value in [
                ("10.0.0.7", datetime(2024, 5, 1, 8, 30), "1.25"),
                ("10.0.0.9", datetime(2024, 5, 2, 9, 0), "0.5"),
            ]
        ]
        async with Worker(client, task_queue=task_queue, workflows=[Lab], activities=[calibrate]):
            result = await client.execute_workflow(
                Lab.run, sensors, id=fresh_id("lab"), task_queue=task_queue
            )
    finally:
        await client.close()
    assert all(isinstance(s, Sensor) for s in result)
    assert [(s.address, s.seen_at, s.reading) for s in result] == [
        (IPv4Address("10.0.0.7"), datetime(2024, 5, 1, 8, 30), Decimal("2.50")),
        (IPv4Address("10.0.0.9"), datetime(2024, 5, 2, 9, 0), Decimal("1.0")),
    ]


async def custom_decorator(env: ExecutorHarness) -> None:
    handle = await start(env, Sentry.run, "east tower")
    assert await handle.result() == "east tower guarded for 1.5 s"
    assert await steps(handle) == [STARTED, *activity_steps("stand_guard"), COMPLETED]


SCENARIOS: dict[str, Driver] = {
    "dsl": dsl,
    "pydantic_converter": pydantic_converter,
    "custom_decorator": custom_decorator,
}
"""The scenarios of this group, by sample."""
