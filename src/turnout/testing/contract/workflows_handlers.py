"""A workflow that sets its handlers while it runs (the scenarios in
``test_runtime_handlers.py``), as temporalio's ``set_*_handler`` allow."""

from __future__ import annotations

from turnout import workflow


@workflow.defn
class Switchboard:
    def __init__(self) -> None:
        self.heard: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> list[str]:
        # Signals sent before the handler exists wait for it.
        await workflow.wait_condition(lambda: len(self.heard) >= 0)
        workflow.set_signal_handler("say", self._say)
        workflow.set_query_handler("heard", lambda: list(self.heard))
        workflow.set_update_handler("count", self._count, validator=self._check)
        workflow.set_signal_handler("stop", lambda: setattr(self, "done", True))
        assert workflow.get_signal_handler("say") is not None
        assert workflow.get_query_handler("missing") is None
        await workflow.wait_condition(lambda: self.done)
        workflow.set_signal_handler("say", None)
        return self.heard

    def _say(self, word: str) -> None:
        self.heard.append(word)

    def _count(self, extra: int) -> int:
        return len(self.heard) + extra

    def _check(self, extra: int) -> None:
        if extra < 0:
            raise ValueError("extra must not be negative")


HANDLER_WORKFLOWS: list[type] = [Switchboard]
