"""Values of many types through a workflow's input, an activity and back (the scenarios
in ``test_values.py``): they must convert the same way on every executor."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pydantic

from turnout import activity, workflow

QUICK = timedelta(seconds=10)


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Parcel(pydantic.BaseModel):
    name: str
    sent: dt.datetime
    weight: decimal.Decimal


@dataclasses.dataclass
class Typed:
    """One field of each type, so that each converts through its type hint."""

    raw: bytes
    at: dt.datetime
    day: dt.date
    key: uuid.UUID
    amount: decimal.Decimal
    color: Color
    level: Level
    pair: tuple[int, str]
    point: Point
    parcel: Parcel
    nothing: None


TYPED = Typed(
    raw=b"typed",
    at=dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC),
    day=dt.date(2024, 5, 6),
    key=uuid.UUID(int=42),
    amount=decimal.Decimal("9.99"),
    color=Color.RED,
    level=Level.HIGH,
    pair=(1, "one"),
    point=Point(3, 4),
    parcel=Parcel(name="box", sent=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), weight=1),
    nothing=None,
)
"""A value of every type; ``==`` compares it field by field (datetimes by instant)."""


def same_as_typed(value: Any) -> list[str]:
    """Whether ``value`` arrived as :data:`TYPED`, with each field's type name."""
    if not isinstance(value, Typed):
        return [type(value).__name__, "not a Typed"]
    kinds = ",".join(type(getattr(value, f.name)).__name__ for f in dataclasses.fields(value))
    return ["Typed", f"equal={value == TYPED} {kinds}"]


@activity.defn
async def echo_typed(value: Typed) -> Typed:
    return value


@activity.defn
async def echo_any(value: Any) -> Any:
    return value


@activity.defn
async def echo_bytes(value: bytes) -> bytes:
    return value


def describe(value: Any) -> list[str]:
    """What arrived, as a type name and a repr (comparable across executors)."""
    return [type(value).__name__, repr(value)]


@workflow.defn
class Values:
    @workflow.run
    async def run(self, typed: Typed, loose: Any, raw: bytes) -> dict[str, list[str]]:
        seen: dict[str, list[str]] = {
            "input typed": same_as_typed(typed),
            "input loose": describe(loose),
            "input raw": describe(raw),
        }
        back = await workflow.execute_activity(echo_typed, typed, start_to_close_timeout=QUICK)
        seen["activity typed"] = same_as_typed(back)
        for name, value in [
            ("bytes", b"\xff\x00binary"),
            ("tuple", (1, "a")),
            ("datetime", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
            ("uuid", uuid.UUID(int=7)),
            ("decimal", decimal.Decimal("1.10")),
            ("enum", Color.RED),
            ("int enum", Level.HIGH),
            ("dataclass", Point(1, 2)),
            ("model", Parcel(name="p", sent=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), weight=2)),
            ("none", None),
        ]:
            seen[f"activity any {name}"] = describe(
                await workflow.execute_activity(echo_any, value, start_to_close_timeout=QUICK)
            )
        seen["activity bytes"] = describe(
            await workflow.execute_activity(echo_bytes, raw, start_to_close_timeout=QUICK)
        )
        return seen


VALUE_WORKFLOWS: list[type] = [Values]
VALUE_ACTIVITIES: list[Callable[..., Any]] = [echo_typed, echo_any, echo_bytes]
