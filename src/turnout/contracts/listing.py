"""What ``client.list_workflows(query)`` and ``client.count_workflows(query)`` return,
on every executor.

``list_workflows`` gives a :class:`WorkflowExecutionAsyncIterator`: iterate it
(``async for run in client.list_workflows("WorkflowType = 'Checkout'")``, as with
temporalio), or await it for a list of the runs; ``map_histories()`` gives each run's
history instead. Each executor's client supplies the runs through one hook,
``_list_runs(query, listing)``, and ``_count_runs(query)`` for a count.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from turnout.contracts.history import WorkflowHistory
from turnout.contracts.records import Run
from turnout.contracts.states import RunState

__all__ = [
    "Listing",
    "WorkflowExecutionAsyncIterator",
    "WorkflowExecutionCount",
    "WorkflowExecutionCountAggregationGroup",
]


@dataclass(frozen=True)
class Listing:
    """The keyword filters and bounds of a listing, beside its query."""

    state: RunState | None = None
    workflow_type: str | None = None
    task_queue: str | None = None
    limit: int | None = None
    """The most runs to give (None: every match)."""
    before: tuple[datetime, str] | None = None
    """A keyset bound ``(requested_at, run_id)``: only the runs that sort after it."""
    page_size: int = 1000
    """How many runs one read fetches."""


class WorkflowExecutionAsyncIterator:
    """The runs a listing matches, newest first unless the query orders them: an async
    iterator of :class:`Run` (temporalio's ``WorkflowExecution`` names are on it), or
    awaited, a list of them."""

    def __init__(
        self,
        runs: Callable[[], AsyncIterator[Run]],
        history: Callable[[Run], Awaitable[WorkflowHistory]],
    ) -> None:
        self._runs = runs
        self._history = history
        self._iterator: AsyncIterator[Run] | None = None

    def __aiter__(self) -> WorkflowExecutionAsyncIterator:
        return self

    async def __anext__(self) -> Run:
        if self._iterator is None:
            self._iterator = self._runs()
        return await self._iterator.__anext__()

    async def _all(self) -> list[Run]:
        return [run async for run in self._runs()]

    def __await__(self) -> Generator[Any, None, list[Run]]:
        """The matching runs as a list (turnout's short form)."""
        return self._all().__await__()

    async def map_histories(self) -> AsyncIterator[WorkflowHistory]:
        """Each matching run's history, in the listing's order (temporalio's name)."""
        async for run in self._runs():
            yield await self._history(run)


@dataclass(frozen=True)
class WorkflowExecutionCountAggregationGroup:
    """One group of ``count_workflows("... GROUP BY ExecutionStatus")``."""

    count: int
    group_values: Sequence[Any]
    """The group's values, in the order of the GROUP BY fields (``["Completed"]``)."""


@dataclass(frozen=True)
class WorkflowExecutionCount:
    """What ``count_workflows(query)`` returns: the number of matching runs, and with
    ``GROUP BY ExecutionStatus`` the number in each status."""

    count: int
    groups: Sequence[WorkflowExecutionCountAggregationGroup] = ()
