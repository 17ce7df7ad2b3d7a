"""The older version of ``workflows_queries.Ledger``, as a client deployed before the
worker still holds it: the same workflow type, without the patched step (its code cannot
replay a run of the newer one), answering ``version`` with ``"v1"``."""

from __future__ import annotations

from turnout import workflow
from turnout.testing.contract.workflows_queries import LEDGER


@workflow.defn(name=LEDGER)
class Ledger:
    def __init__(self) -> None:
        self.entries: list[str] = []
        self.closing = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.closing)
        return self.entries

    @workflow.query
    def listed(self) -> list[str]:
        return list(self.entries)

    @workflow.query
    def version(self) -> str:
        return "v1"
