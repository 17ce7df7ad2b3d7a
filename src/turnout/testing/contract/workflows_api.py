"""The workflows of the scenarios in ``test_workflow_api``: plain turnout code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turnout import workflow
from turnout.testing.contract.workflows import Order, greet


@workflow.defn
class InitFromInput:
    """Its object is made with the run's input, so handlers see it before the run starts."""

    @workflow.init
    def __init__(self, order: Order, greeting: str) -> None:
        self.line = f"{greeting}, {order.order_id} from {workflow.info().workflow_type}"
        self.items: list[str] = []

    @workflow.run
    async def run(self, order: Order, greeting: str) -> str:
        await workflow.wait_condition(lambda: bool(self.items))
        return f"{self.line}: {order.amount} x {self.items}"

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.query
    def greeting_line(self) -> str:
        return self.line


WORKFLOWS: list[type] = [InitFromInput]
ACTIVITIES: list[Callable[..., Any]] = [greet]
