"""Claim latency against a large history (internal executors only).

The question: does the store's claim path slow down as finished runs pile up?
The benchmark drives the store directly, in this process, through the path a
one-activity workflow takes, in rounds of ``BATCH`` workflows: start them;
claim their workflow tasks; commit each with a "schedule activity" command;
claim the activities; complete them; claim the follow-up workflow tasks;
commit each with "complete workflow". Every ``claim`` call is timed (the claim
latency), and so is each round (the cycle). It runs once on an empty history,
then again after ``count`` finished runs were bulk-inserted with plain SQL,
shaped like real one-activity runs (one task, one run and three queue items
each) in the same task queue, with four events each (a real run has ten; the
claim path never reads old events, and four keep the fill short). On PostgreSQL the tables are then
analyzed, as autovacuum would do after such an insert.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from benchmarks.flows import OneActivity
from benchmarks.metrics import latency_summary
from benchmarks.session import Session
from benchmarks.targets import Target

__all__ = ["BATCH", "ROUNDS", "claim_benchmark", "fill_history"]

BATCH = 20
"""Workflows per round at full size."""
MIN_BATCH = 5
ROUNDS = 10
"""Rounds per phase (empty, filled) at full size."""
MIN_ROUNDS = 4
CHUNK = 50_000
"""Finished runs inserted per transaction."""
_LEASE = 60.0

_EVENTS = [
    (1, "workflow_started", '{"workflow_type": "OneActivity", "task_queue": "q", "input": [1]}'),
    (2, "activity_scheduled", '{"activity_seq": 1, "activity_id": "1", "activity_type": "noop"}'),
    (3, "activity_completed", '{"activity_seq": 1, "activity_id": "1", "result": 1}'),
    (4, "workflow_completed", '{"result": 1}'),
]
_ITEMS = [
    (1, "workflow_task", "OneActivity", None, "{}"),
    (2, "activity_task", "noop", "1", '{"activity_seq": 1, "activity_type": "noop"}'),
    (3, "workflow_task", "OneActivity", None, "{}"),
]


def _values(rows: list[tuple[Any, ...]]) -> str:
    def literal(value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, int):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    return ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)


def _with(*ctes: str) -> str:
    present = [cte for cte in ctes if cte]
    return f"WITH RECURSIVE {', '.join(present)} " if present else ""


def _statements(dialect: str) -> list[str]:
    """INSERT ... SELECT statements that add finished runs ``:lo`` to ``:hi``."""
    if dialect == "postgresql":
        series_cte = ""
        series = "generate_series(CAST(:lo AS integer), CAST(:hi AS integer)) AS g(x)"
        at = "'2020-01-01 00:00:00+00'"
        cast = "CAST({} AS JSONB)"
    else:
        series_cte = (
            "g(x) AS (SELECT CAST(:lo AS INTEGER) UNION ALL SELECT x + 1 FROM g WHERE x < :hi)"
        )
        series = "g"
        at = "'2020-01-01 00:00:00.000000'"
        cast = "{}"
    one, empty, result = cast.format("'[1]'"), cast.format("'{}'"), cast.format("'1'")
    events = f"e(seq, type, attrs) AS (VALUES {_values(_EVENTS)})"
    items = f"i(n, kind, name, ref, payload) AS (VALUES {_values(_ITEMS)})"
    return [
        f"{_with(series_cte)}"
        "INSERT INTO turnout_tasks (task_id, tenant_id, workflow_id, workflow_type, task_queue,"
        " input, correlation_id, requested_at) "
        f"SELECT 'hist-t-' || x, 'default', 'hist-' || x, 'OneActivity', :q, {one},"
        f" 'hist-c-' || x, {at} FROM {series}",
        f"{_with(series_cte)}"
        "INSERT INTO turnout_runs (run_id, task_id, tenant_id, workflow_id, workflow_type,"
        " task_queue, correlation_id, state, attempt, input, result, requested_at, started_at,"
        " closed_at, updated_at, next_seq, workflow_task_count, options) "
        "SELECT 'hist-r-' || x, 'hist-t-' || x, 'default', 'hist-' || x, 'OneActivity', :q,"
        f" 'hist-c-' || x, 'completed', 1, {one}, {result},"
        f" {at}, {at}, {at}, {at}, 11, 2, {empty} FROM {series}",
        f"{_with(series_cte, items)}"
        "INSERT INTO turnout_queue_items (kind, state, tenant_id, task_queue, run_id, workflow_id,"
        " name, ref, payload, priority, attempt, available_at, started_at, created_at,"
        " updated_at) "
        "SELECT i.kind, 'completed', 'default', :q, 'hist-r-' || x, 'hist-' || x, i.name, i.ref,"
        f" {cast.format('i.payload')}, 0, 1, {at}, {at}, {at}, {at} FROM {series} CROSS JOIN i",
        f"{_with(series_cte, events)}"
        "INSERT INTO turnout_events (run_id, seq, tenant_id, workflow_id, type, at,"
        " correlation_id, attributes) "
        "SELECT 'hist-r-' || x, e.seq, 'default', 'hist-' || x, e.type, "
        f"{at}, 'hist-c-' || x, {cast.format('e.attrs')} FROM {series} CROSS JOIN e",
    ]


def fill_history(url: str, task_queue: str, count: int) -> float:
    """Insert ``count`` finished one-activity runs into the database at ``url``; seconds taken."""
    from sqlalchemy import text

    from turnout.config import database_dialect
    from turnout.executors.internal.migrate import make_engine

    dialect = database_dialect(url)
    statements = [text(s) for s in _statements(dialect)]
    began = time.perf_counter()
    engine = make_engine(url)
    try:
        for lo in range(1, count + 1, CHUNK):
            hi = min(count, lo + CHUNK - 1)
            with engine.begin() as conn:
                for statement in statements:
                    conn.execute(statement, {"lo": lo, "hi": hi, "q": task_queue})
        if dialect == "postgresql":
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return time.perf_counter() - began


async def _round(session: Session, owner: str, tag: str, batch: int) -> tuple[float, list[float]]:
    """One batch through the store path; (cycle seconds, claim call seconds)."""
    from turnout.contracts.retry import RetryPolicy
    from turnout.executors.internal.commands import CompleteWorkflow, ScheduleActivity
    from turnout.executors.internal.store import ClaimParams, WorkflowTaskCommit
    from turnout.executors.internal.store.base import utcnow

    store = session.client.store
    queue = session.task_queue
    for i in range(batch):
        await session.client.start_workflow(
            OneActivity.run, 1, id=f"{session.token}-{tag}-{i}", task_queue=queue
        )
    claims: list[float] = []

    async def claim_all(*, workflow_tasks: int, activities: int) -> list[Any]:
        got: list[Any] = []
        for _ in range(100):
            clock = time.perf_counter()
            items = await store.claim(
                ClaimParams(
                    queue,
                    owner,
                    workflow_tasks=workflow_tasks - len(got) if workflow_tasks else 0,
                    activities=activities - len(got) if activities else 0,
                    workflow_lease=_LEASE,
                )
            )
            claims.append(time.perf_counter() - clock)
            got.extend(items)
            if len(got) >= workflow_tasks + activities:
                return got
        raise RuntimeError(f"claimed {len(got)} of {workflow_tasks + activities} items")

    async def commit(item: Any, command: Any) -> None:
        row, history = await store.load_history(item.run_id, 0)
        await store.commit_workflow_task(
            WorkflowTaskCommit(
                item,
                expected_task_count=row.workflow_task_count,
                processed_through=history[-1].seq if history else 0,
                time=utcnow(),
                commands=[command],
            )
        )

    policy = RetryPolicy().model_dump(mode="json")
    clock = time.perf_counter()
    for item in await claim_all(workflow_tasks=batch, activities=0):
        schedule = ScheduleActivity(
            seq=1,
            activity_id="1",
            activity_type="noop",
            args=[1],
            task_queue=queue,
            start_to_close_timeout=120.0,
            schedule_to_close_timeout=None,
            heartbeat_timeout=None,
            retry_policy=policy,
        )
        await commit(item, schedule)
    for item in await claim_all(workflow_tasks=0, activities=batch):
        await store.complete_activity(item, 1)
    for item in await claim_all(workflow_tasks=batch, activities=0):
        await commit(item, CompleteWorkflow(result=1))
    return time.perf_counter() - clock, claims


async def _phase(session: Session, name: str, rounds: int, batch: int) -> dict[str, Any]:
    owner = f"bench-{secrets.token_hex(4)}"
    cycles: list[float] = []
    claims: list[float] = []
    await _round(session, owner, f"{name}-warm", batch)
    for r in range(rounds):
        cycle, calls = await _round(session, owner, f"{name}-{r}", batch)
        cycles.append(cycle)
        claims.extend(calls)
    total = sum(cycles)
    cycle_summary = latency_summary(cycles)
    return {
        "units": rounds * batch,
        "completed": rounds * batch,
        "throughput_per_s": rounds * batch / total if total else None,
        "cycle_p50_ms": cycle_summary["p50_ms"],
        **latency_summary(claims),
    }


async def claim_benchmark(
    target: Target, count: int, timeout: float, *, scale: float = 1.0
) -> dict[str, Any]:
    """Claim latency on an empty history, then with ``count`` finished runs added.

    Each phase runs ``ROUNDS`` rounds of ``BATCH`` workflows at full size; a
    ``scale`` below 1 runs fewer rounds (at least ``MIN_ROUNDS``), and below
    1/20 smaller batches too (at least ``MIN_BATCH``).
    """
    scale = min(scale, 1.0)
    rounds = max(MIN_ROUNDS, round(ROUNDS * scale))
    batch = max(MIN_BATCH, min(BATCH, round(BATCH * scale * 20)))
    async with target.session("claim", workers=0) as session:
        empty = await asyncio.wait_for(_phase(session, "empty", rounds, batch), timeout)
        url = session.client.store.url
        fill_seconds = await asyncio.to_thread(fill_history, url, session.task_queue, count)
        filled = await asyncio.wait_for(_phase(session, "filled", rounds, batch), timeout)
    ratio = filled["p50_ms"] / empty["p50_ms"] if empty["p50_ms"] else None
    return {
        "kind": "claim",
        "history_runs": count,
        "batch": batch,
        "rounds": rounds,
        "fill_seconds": fill_seconds,
        "empty": empty,
        "filled": filled,
        "p50_ratio": ratio,
    }
