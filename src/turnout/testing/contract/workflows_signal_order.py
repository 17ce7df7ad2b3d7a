"""Workflows for the contract scenarios on the order in which one activation runs code."""

from __future__ import annotations

import asyncio

from turnout import workflow


@workflow.defn
class Relay:
    """Two branches: one waits on a condition that already holds, the other just records."""

    @workflow.run
    async def run(self) -> list[str]:
        order: list[str] = []

        async def waits() -> None:
            await workflow.wait_condition(lambda: True)
            order.append("condition")

        async def records() -> None:
            order.append("plain")

        await asyncio.gather(waits(), records())
        return order


@workflow.defn
class Ledger:
    """Records whether its signal handler or its run method ran first."""

    def __init__(self) -> None:
        self.entries: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        self.entries.append("run")
        await workflow.wait_condition(lambda: "signal" in self.entries)
        return self.entries

    @workflow.signal
    def note(self) -> None:
        self.entries.append("signal")
