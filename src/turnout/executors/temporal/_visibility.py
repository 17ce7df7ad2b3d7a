"""Listing and counting runs on Temporal: a parsed list query (with the listing's
keyword filters) sent to Temporal's visibility API, each execution mapped to a Run.

Temporal's SQL visibility (the dev server's, and any cluster on PostgreSQL, MySQL or
SQLite) refuses ``ORDER BY``; a query that orders is sent without it, and the runs are
ordered here as the internal executor orders them in SQL: each term in turn, a run
without the value last, then newest first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import temporalio.client
import temporalio.service

from turnout.contracts.listing import (
    Listing,
    WorkflowExecutionCount,
    WorkflowExecutionCountAggregationGroup,
)
from turnout.contracts.records import Run
from turnout.contracts.search_attributes import typed_from_stored
from turnout.contracts.states import RunState
from turnout.contracts.visibility import InvalidQueryError, Order, Query, render
from turnout.executors.temporal._handle import STATES

if TYPE_CHECKING:
    from turnout.executors.temporal._client import TemporalClient

__all__ = ["count_runs", "fetch_page", "list_query", "list_runs", "listed_run", "quoted"]


def quoted(value: str) -> str:
    """A string literal of Temporal's list query."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def list_query(
    where: str,
    state: RunState | None,
    workflow_type: str | None,
    task_queue: str | None,
    before: tuple[datetime, str] | None,
) -> str | None:
    """The visibility query of a listing: the user's condition ``where`` (query text)
    and the keyword filters ("" lists everything; None: nothing can match)."""
    clauses = [f"({where})"] if where else []
    if before is not None:
        # Temporal keeps nanoseconds, Python microseconds: bound one microsecond later;
        # the caller leaves out what does not sort after ``before``.
        bound = (before[0] + timedelta(microseconds=1)).astimezone(UTC)
        clauses.append(f"StartTime < '{bound.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'")
    if workflow_type:
        clauses.append(f"WorkflowType = {quoted(workflow_type)}")
    if task_queue:
        clauses.append(f"TaskQueue = {quoted(task_queue)}")
    wanted = RunState(state) if state is not None else None
    if wanted is RunState.WAITING_APPROVAL:
        # An open run that waits on an approval: Running to Temporal, told apart by memo.
        clauses.append("ExecutionStatus = 'Running'")
    elif wanted is not None:
        status = next((k for k, v in STATES.items() if v is wanted), None)
        if status is None:
            return None
        clauses.append(f"ExecutionStatus = '{status.name.title().replace('_', '')}'")
    return " AND ".join(clauses)


async def listed_run(
    client: TemporalClient, execution: temporalio.client.WorkflowExecution, state: RunState | None
) -> Run | None:
    """The record of a listed execution, or None when it is not in ``state``."""
    handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
    run = await handle.describe_run(explained=False)
    return run if state is None or run.state is RunState(state) else None


async def list_runs(client: TemporalClient, query: Query, listing: Listing) -> AsyncIterator[Run]:
    """The runs a listing matches: in Temporal's order (open runs first, newest first,
    then closed ones by close time), or in the query's own."""
    text = list_query(
        render(query.where),
        listing.state,
        listing.workflow_type,
        listing.task_queue,
        listing.before,
    )
    if text is None:
        return
    found: list[Run] = []
    executions = client.raw.list_workflows(query=text or None, page_size=listing.page_size)
    async for execution in _refusing_bad_queries(executions):
        if (
            listing.before is not None
            and (execution.start_time, execution.run_id) >= listing.before
        ):
            continue
        run = await listed_run(client, execution, listing.state)
        if run is None:
            continue
        if not query.order_by:
            yield run
        found.append(run)
        if not query.order_by and listing.limit is not None and len(found) >= listing.limit:
            return
    if query.order_by:
        for run in ordered(found, query.order_by)[: listing.limit]:
            yield run


def _query_error(exc: temporalio.service.RPCError) -> Exception:
    """The server's refusal of a query as turnout's InvalidQueryError (others unchanged)."""
    if exc.status == temporalio.service.RPCStatusCode.INVALID_ARGUMENT:
        return InvalidQueryError(f"Temporal refused the query: {exc.message}")
    return exc


async def _refusing_bad_queries(
    executions: AsyncIterator[temporalio.client.WorkflowExecution],
) -> AsyncIterator[temporalio.client.WorkflowExecution]:
    try:
        async for execution in executions:
            yield execution
    except temporalio.service.RPCError as exc:
        raise _query_error(exc) from None


async def fetch_page(pages: temporalio.client.WorkflowExecutionAsyncIterator) -> None:
    """Fetch the listing's next page, a query the server refuses as InvalidQueryError."""
    try:
        await pages.fetch_next_page()
    except temporalio.service.RPCError as exc:
        raise _query_error(exc) from None


def _value_of(field: str) -> Callable[[Run], Any]:
    builtin: dict[str, Callable[[Run], Any]] = {
        "WorkflowId": lambda r: r.workflow_id,
        "RunId": lambda r: r.run_id,
        "WorkflowType": lambda r: r.workflow_type,
        "TaskQueue": lambda r: r.task_queue,
        "ExecutionStatus": lambda r: r.state.value,
        "StartTime": lambda r: r.requested_at,
        "ExecutionTime": lambda r: r.requested_at,
        "CloseTime": lambda r: r.closed_at,
    }
    if field in builtin:
        return builtin[field]

    def custom(run: Run) -> Any:
        entry = run.search_attribute_values.get(field)
        return (
            None if entry is None else typed_from_stored({field: entry}).search_attributes[0].value
        )

    return custom


def ordered(runs: Sequence[Run], terms: Sequence[Order]) -> list[Run]:
    """``runs`` in the order of ``terms``; ties newest first (then by run id)."""
    out = sorted(runs, key=lambda r: (r.requested_at, r.run_id), reverse=True)
    for term in reversed(terms):
        value = _value_of(term.field)
        present = [r for r in out if value(r) is not None]
        present.sort(key=value, reverse=term.descending)
        out = present + [r for r in out if value(r) is None]
    return out


async def count_runs(client: TemporalClient, query: Query) -> WorkflowExecutionCount:
    """Temporal's count of the runs ``query`` matches (per status when it groups)."""
    text = render(query.where)
    if query.group_by:
        text = f"{text} GROUP BY ExecutionStatus".strip()
    try:
        counted = await client.raw.count_workflows(query=text or None)
    except temporalio.service.RPCError as exc:
        raise _query_error(exc) from None
    groups = sorted(
        (
            WorkflowExecutionCountAggregationGroup(g.count, [str(v) for v in g.group_values])
            for g in counted.groups
        ),
        key=lambda g: g.group_values[0],
    )
    return WorkflowExecutionCount(counted.count, groups)
