"""How the database runs a claim over a backlog: it reads the rows it takes, in claim
order, from the ready index. Before that index was in claim order, every claim sorted
the queue's whole backlog first (and PostgreSQL, planning for a small queue, checked
each queued task against every leased item): claims slowed as the backlog grew.

These tests look at the database's own plan of the statement the store runs, on a
fresh database whose planner has no statistics, as at a first deploy.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from turnout.executors.internal.store import StartParams, Store
from turnout.executors.internal.store.claims import claim_statement, eager_statement, params_for
from turnout.executors.internal.store.sql import STICKY_SECONDS, WFT, utcnow

from .conftest import QUEUE

BACKLOG = 300
LIMIT = 5


async def _backlog(store: Store) -> None:
    starts = [
        StartParams(workflow_id=f"wf-{i}", workflow_type="Flow", task_queue=QUEUE, input=[i])
        for i in range(BACKLOG)
    ]
    for result in await store.start_workflows(starts):
        assert not isinstance(result, Exception), result


def _claim_params() -> dict[str, Any]:
    now = utcnow()
    return {
        **params_for(QUEUE, now, None),
        f"limit_{WFT}": LIMIT,
        "owner": "w1",
        "until": now + timedelta(seconds=30),
        "sticky_before": now - timedelta(seconds=STICKY_SECONDS),
    }


async def _plan(store: Store, statement: Any, params: dict[str, Any], analyze: str) -> Any:
    """The database's plan of ``statement`` run with ``params`` (then rolled back)."""
    compiled = statement.compiled(store.engine.dialect)
    args = compiled.parameters(params)
    async with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            values = tuple(args[name] for name in compiled.names)
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.sql}", values)
            return [row[3] for row in rows]
        rows = await conn.exec_driver_sql(f"EXPLAIN ({analyze}FORMAT JSON) {compiled.sql}", args)
        (plan,) = rows.scalar_one()
        await conn.rollback()
        return plan["Plan"]


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in _nodes(child))]


async def test_a_claim_over_a_backlog_reads_only_what_it_takes(store: Store) -> None:
    await _backlog(store)
    statement = claim_statement((WFT,), False, False)

    plan = await _plan(store, statement, _claim_params(), "ANALYZE, ")

    if store.dialect == "sqlite":
        assert "SEARCH q USING INDEX ix_turnout_queue_items_ready (task_queue=? AND kind=?)" in plan
        assert not [step for step in plan if "TEMP B-TREE" in step], plan
        return
    scans = [n for n in _nodes(plan) if n.get("Alias") == "q"]
    assert scans, json.dumps(plan)
    assert all(n["Index Name"] == "ix_turnout_queue_items_ready" for n in scans), scans
    assert sum(n["Actual Rows"] for n in scans) <= LIMIT, json.dumps(plan)
    assert not [n for n in _nodes(plan) if n["Node Type"] == "Sort"], json.dumps(plan)
    leased = [n for n in _nodes(plan) if n.get("Node Type") == "ModifyTable"]
    assert leased
    assert leased[0]["Actual Rows"] == LIMIT


async def test_an_eager_claim_finds_its_runs_tasks_by_run_id(store: Store) -> None:
    """The tasks an eager claim leases are found by run id, not by reading the queue's
    backlog of other runs' tasks."""
    await _backlog(store)
    now = utcnow()
    params = {
        **params_for(QUEUE, now, None),
        "runs": ["a-run"],
        "names": ["Flow"],
        "limit": LIMIT,
        "owner": "w1",
        "until": now + timedelta(seconds=30),
        "sticky_before": now - timedelta(seconds=STICKY_SECONDS),
    }

    plan = await _plan(store, eager_statement(), params, "ANALYZE, ")

    if store.dialect == "sqlite":
        assert [s for s in plan if "ix_turnout_queue_items_run_id_kind (run_id=? AND kind=?)" in s]
        assert not [s for s in plan if "ix_turnout_queue_items_ready" in s], plan
        return
    scans = [n for n in _nodes(plan) if n.get("Alias") == "q"]
    assert [n.get("Index Name") for n in scans] == ["ix_turnout_queue_items_run_id_kind"], scans
    assert sum(n["Actual Rows"] for n in scans) == 0
