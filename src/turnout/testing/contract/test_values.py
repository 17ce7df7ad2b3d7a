"""Arguments and results convert identically on every executor: bytes, datetimes, dates,
UUIDs, decimals, enums, tuples, dataclasses, pydantic models and None, through type
hints and without them; a value that cannot be converted gives the same error class."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from turnout import DataConversionError
from turnout.testing.contract.workflows import Signals
from turnout.testing.contract.workflows_values import (
    TYPED,
    VALUE_ACTIVITIES,
    VALUE_WORKFLOWS,
    Values,
)
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio

# What arrives where Temporal's own converter (JSON through pydantic, bytes as binary
# payloads) is the reference: typed values come back as their types; without a hint, a
# payload that is bytes stays bytes and everything else is its JSON form.
KINDS = "bytes,datetime,date,UUID,Decimal,Color,Level,tuple,Point,Parcel,NoneType"
EXPECTED: dict[str, list[str]] = {
    "input typed": ["Typed", f"equal=True {KINDS}"],
    "input loose": ["list", "[1, 'a']"],
    "input raw": ["bytes", "b'\\x00\\xffraw'"],
    "activity typed": ["Typed", f"equal=True {KINDS}"],
    "activity any bytes": ["bytes", "b'\\xff\\x00binary'"],
    "activity any tuple": ["list", "[1, 'a']"],
    "activity any datetime": ["str", "'2024-01-02T03:04:05Z'"],
    "activity any uuid": ["str", "'00000000-0000-0000-0000-000000000007'"],
    "activity any decimal": ["str", "'1.10'"],
    "activity any enum": ["str", "'red'"],
    "activity any int enum": ["int", "3"],
    "activity any dataclass": ["dict", "{'x': 1, 'y': 2}"],
    "activity any model": [
        "dict",
        "{'name': 'p', 'sent': '2024-01-01T00:00:00Z', 'weight': '2'}",
    ],
    "activity any none": ["NoneType", "None"],
    "activity bytes": ["bytes", "b'\\x00\\xffraw'"],
}


async def test_values_convert_the_same_way_on_every_executor(executor: ExecutorHarness) -> None:
    task_queue = f"values-{uuid.uuid4().hex[:8]}"
    async with Worker(
        executor.client,
        task_queue=task_queue,
        workflows=VALUE_WORKFLOWS,
        activities=VALUE_ACTIVITIES,
    ):
        seen = await executor.client.execute_workflow(
            Values.run, args=[TYPED, (1, "a"), b"\x00\xffraw"],
            id=f"values-{uuid.uuid4().hex[:8]}", task_queue=task_queue,
        )  # fmt: skip
    assert seen == EXPECTED


@pytest.mark.parametrize("bad", [object(), {1, 2, object()}])
async def test_a_value_that_cannot_be_converted_is_refused_alike(
    executor: ExecutorHarness, bad: Any
) -> None:
    with pytest.raises(DataConversionError, match="cannot be converted to JSON"):
        await executor.client.start_workflow(
            Values.run, args=[TYPED, bad, b""], id=f"values-{uuid.uuid4().hex[:8]}",
            task_queue=executor.task_queue,
        )  # fmt: skip
    handle = await executor.client.start_workflow(
        Signals.run, id=f"values-{uuid.uuid4().hex[:8]}", task_queue=executor.task_queue
    )
    with pytest.raises(DataConversionError, match="the arguments of signal add"):
        await handle.signal("add", bad)
    # Still a ValueError and a TypeError, for code written against either.
    with pytest.raises(ValueError, match="cannot be converted"):
        await handle.signal("add", bad)
    await handle.terminate(reason="done")
