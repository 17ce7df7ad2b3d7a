"""A workflow with updates (the scenarios in ``test_updates.py``): a sync handler with a
validator, an async one that may fail, and one that finishes the run once every handler
is done."""

from __future__ import annotations

from turnout import ApplicationError, workflow


@workflow.defn
class Cart:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.closed = False
        self.seen_updates: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.closed)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.items

    @workflow.update
    def add_item(self, item: str) -> int:
        info = workflow.current_update_info()
        assert info is not None
        self.seen_updates.append(f"{info.name}:{info.id}")
        self.items.append(item)
        return len(self.items)

    @add_item.validator
    def check_item(self, item: str) -> None:
        if not item:
            raise ValueError("an item needs a name")

    @workflow.update
    async def reserve(self, item: str) -> str:
        await workflow.sleep(0.2)
        if item == "sold-out":
            raise ApplicationError(f"{item} cannot be reserved", type="SoldOut")
        self.items.append(f"reserved {item}")
        return f"reserved {item}"

    @workflow.update(name="close")
    async def close_cart(self) -> int:
        self.closed = True
        return len(self.items)

    @workflow.query
    def updates_seen(self) -> list[str]:
        return self.seen_updates


UPDATE_WORKFLOWS: list[type] = [Cart]
