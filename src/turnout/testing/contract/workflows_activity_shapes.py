"""Activities declared on methods and on callable classes, as temporalio allows, and
the workflow that calls them (the scenarios in ``test_activity_shapes.py``)."""

from __future__ import annotations

from datetime import timedelta

from turnout import activity, workflow

QUICK = timedelta(seconds=10)


class Inventory:
    """Activities that share state through their instance (a client, a pool, ...)."""

    def __init__(self, stock: dict[str, int]) -> None:
        self.stock = stock

    @activity.defn
    async def reserve(self, sku: str, quantity: int) -> int:
        self.stock[sku] -= quantity
        return self.stock[sku]

    @activity.defn(name="count_stock")
    def count(self, sku: str) -> int:  # a sync method runs in the worker's thread pool
        return self.stock[sku]


@activity.defn
class Shout:
    """A callable class: the worker is given an instance."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix

    async def __call__(self, text: str) -> str:
        return text.upper() + self.suffix


@workflow.defn
class UsesActivityShapes:
    @workflow.run
    async def run(self, sku: str) -> list[object]:
        left = await workflow.execute_activity_method(
            Inventory.reserve, args=[sku, 2], start_to_close_timeout=QUICK
        )
        counted = await workflow.execute_activity_method(
            Inventory.count, sku, start_to_close_timeout=QUICK
        )
        handle = workflow.start_activity_class(Shout, "done", start_to_close_timeout=QUICK)
        shouted = await handle
        again = await workflow.execute_activity(
            Inventory.reserve, args=[sku, 1], start_to_close_timeout=QUICK
        )
        return [left, counted, shouted, again]
