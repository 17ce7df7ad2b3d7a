"""An inbox that collects signals until it is closed: the run the console's actions act on."""

from __future__ import annotations

from typing import Any

from turnout import workflow


@workflow.defn
class Inbox:
    """Collects ``add`` signals until ``close``; returns the owner and what was added."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.closed = False

    @workflow.run
    async def run(self, owner: str, limits: dict[str, Any] | None = None) -> list[Any]:
        await workflow.wait_condition(lambda: self.closed)
        return [owner, limits, *self.items]

    @workflow.signal
    def add(self, item: Any, note: str = "") -> None:
        self.items.append({"item": item, "note": note})

    @workflow.signal
    def close(self) -> None:
        self.closed = True


WORKFLOWS = [Inbox]
