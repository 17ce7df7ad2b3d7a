"""A workflow that continues as new once, for the runs a handle addresses (the scenario
in ``test_handle_runs.py``)."""

from __future__ import annotations

from turnout import workflow


@workflow.defn
class Relay:
    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.run
    async def run(self, generation: int) -> list[str]:
        if generation == 0:
            workflow.continue_as_new(1)
        await workflow.wait_condition(lambda: bool(self.got))
        return [f"run{generation}", *self.got]

    @workflow.signal
    def poke(self, value: str) -> None:
        self.got.append(value)

    @workflow.query
    def seen(self) -> list[str]:
        return self.got


HANDLE_WORKFLOWS: list[type] = [Relay]
