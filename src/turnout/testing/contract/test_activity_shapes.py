"""Activities declared on methods and on callable classes run bound to the instance the
worker is given, on every executor; an unbound method is refused when the worker is made
(it would otherwise be called without its instance)."""

from __future__ import annotations

import uuid

import pytest

from turnout.testing.contract.workflows_activity_shapes import (
    Inventory,
    Shout,
    UsesActivityShapes,
)
from turnout.testing.harness import ExecutorHarness
from turnout.testing.timeline import normalize
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


async def test_method_and_class_activities_run_on_their_instances(
    executor: ExecutorHarness,
) -> None:
    inventory = Inventory({"sku-1": 10})
    task_queue = f"shapes-{uuid.uuid4().hex[:8]}"
    async with Worker(
        executor.client,
        task_queue=task_queue,
        workflows=[UsesActivityShapes],
        activities=[inventory.reserve, inventory.count, Shout("!")],
    ):
        handle = await executor.client.start_workflow(
            UsesActivityShapes.run, "sku-1", id=f"shapes-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )  # fmt: skip
        assert await handle.result() == [8, 8, "DONE!", 7]
    assert inventory.stock == {"sku-1": 7}
    scheduled = [
        attributes["activity_type"]
        for kind, attributes in normalize(await handle.events())
        if kind == "activity_scheduled"
    ]
    assert scheduled == ["reserve", "count_stock", "Shout", "reserve"]


@pytest.mark.parametrize(
    ("activity", "fix"),
    [
        (Inventory.reserve, r"activities=\[Inventory\(\.\.\.\)\.reserve\]"),
        (Shout, r"activities=\[Shout\(\.\.\.\)\]"),
    ],
)
async def test_a_method_or_class_without_its_instance_is_refused_by_the_worker(
    executor: ExecutorHarness, activity: object, fix: str
) -> None:
    with pytest.raises(TypeError, match=fix):
        Worker(executor.client, task_queue="never-polled", activities=[activity])  # type: ignore[list-item]
