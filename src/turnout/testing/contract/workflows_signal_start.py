"""A workflow for signal-with-start (the scenario in ``test_signal_with_start.py``)."""

from __future__ import annotations

from turnout import workflow


@workflow.defn
class Inbox:
    def __init__(self) -> None:
        self.messages: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> list[list[str]]:
        first_seen = list(self.messages)  # what arrived before the code started
        await workflow.wait_condition(lambda: self.done)
        return [first_seen, self.messages]

    @workflow.signal
    def post(self, message: str) -> None:
        self.messages.append(message)

    @workflow.signal
    def close(self) -> None:
        self.done = True


SIGNAL_START_WORKFLOWS: list[type] = [Inbox]
