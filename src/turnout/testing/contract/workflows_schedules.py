"""Workflows a schedule starts (the scenarios in ``test_schedules.py``)."""

from __future__ import annotations

from turnout import workflow


@workflow.defn
class Tick:
    """Returns its own workflow id at once."""

    @workflow.run
    async def run(self, label: str) -> str:
        return f"{label}:{workflow.info().workflow_id}"


@workflow.defn
class Held:
    """Runs until released (or cancelled, or terminated)."""

    def __init__(self) -> None:
        self._released = False

    @workflow.signal
    def release(self) -> None:
        self._released = True

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self._released)
        return workflow.info().workflow_id


SCHEDULE_WORKFLOWS = [Tick, Held]
