"""Workflows whose queries workers answer (the scenarios in ``test_worker_queries.py``).

``Ledger`` is the worker's code. ``workflows_queries_v1.Ledger`` is an older version of
the same workflow type, as a client deployed before the worker might still hold it: its
run method lacks the patched step, so its code cannot replay a run of this one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from turnout import workflow

LEDGER = "QueryLedger"
"""The workflow type both versions are registered as."""

_INSTANCES = itertools.count(1)


@dataclass
class LedgerSummary:
    """What the ``summary`` query answers."""

    count: int
    last: str | None


@workflow.defn(name=LEDGER)
class Ledger:
    def __init__(self) -> None:
        self.entries: list[str] = []
        self.closing = False
        self.ready = False
        # Which object answers: a query answered by the same live instance twice gives
        # the same number; a replay makes a new object.
        self.instance = next(_INSTANCES)

    @workflow.run
    async def run(self) -> list[str]:
        if workflow.patched("ledger-v2"):
            await workflow.sleep(0.01)
        self.ready = True
        await workflow.wait_condition(lambda: self.closing)
        return self.entries

    @workflow.update
    async def add(self, entry: str) -> int:
        # Done once the run is at rest (past the patched step), so that nothing is
        # left for a later workflow task when the update returns.
        await workflow.wait_condition(lambda: self.ready)
        self.entries.append(entry)
        return len(self.entries)

    @workflow.signal
    def close(self) -> None:
        self.closing = True

    @workflow.query
    def listed(self) -> list[str]:
        return list(self.entries)

    @workflow.query
    def version(self) -> str:
        return "v2"

    @workflow.query
    def which(self) -> int:
        return self.instance

    @workflow.query
    def summary(self) -> LedgerSummary:
        return LedgerSummary(len(self.entries), self.entries[-1] if self.entries else None)

    @workflow.query
    def sealed(self) -> str:
        raise ValueError("the ledger is sealed")


@workflow.defn(name="QueryBystander")
class Bystander:
    """Another workflow type: its worker leaves the ledger's queries alone."""

    @workflow.run
    async def run(self) -> None:
        return None


QUERY_WORKFLOWS: list[type] = [Ledger]
