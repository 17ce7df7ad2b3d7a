"""PostgreSQL's batched run updates, built once (see ``prepared.py``).

A batch's per-run values travel as one JSON document (``jsonb_to_recordset``, as the
many-row inserts of ``postgres.py``) or as arrays zipped by ``unnest``, joined to the
runs they update: one statement text whatever the batch, where the portable form
(``sql.grouped_case``) writes a ``CASE`` that grows with the distinct values.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import (
    JSON,
    Integer,
    Text,
    any_,
    bindparam,
    case,
    cast,
    column,
    func,
    literal_column,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY

from turnout.contracts.states import RunState
from turnout.executors.internal.schema import runs
from turnout.executors.internal.store.prepared import Prepared, one_of
from turnout.executors.internal.store.sql import ACTIVE, INFO_COLUMNS

__all__ = ["bump_statement", "plans_statement"]


@functools.cache
def bump_statement(claiming: bool, guard: tuple[str, ...] = ()) -> Prepared:
    """Add ``:counts[i]`` to the next seq of each open run ``:ids[i]``, set
    ``updated_at`` to ``:now``; with ``claiming``, only queued runs, which become
    claimed (started now, unless they started before); only runs whose columns
    ``guard`` hold the parameters of the same names. Returns the new next seq and the
    run's info columns."""

    def build(_: str) -> Any:
        given = (
            func.unnest(
                bindparam("ids", type_=ARRAY(runs.c.run_id.type)),
                bindparam("counts", type_=ARRAY(Integer)),
            )
            .table_valued(column("run_id", runs.c.run_id.type), column("n", Integer))
            .render_derived(name="given")
        )
        now = bindparam("now", type_=runs.c.updated_at.type)
        values: dict[str, Any] = {"next_seq": runs.c.next_seq + given.c.n, "updated_at": now}
        stmt = update(runs).where(
            runs.c.run_id == given.c.run_id,
            _by_key(),  # the runs by their primary key, never by a scan
            one_of(runs.c.state, ACTIVE),
            *(runs.c[name] == bindparam(name, type_=runs.c[name].type) for name in guard),
        )
        if claiming:
            values["state"] = RunState.CLAIMED.value
            values["started_at"] = func.coalesce(runs.c.started_at, now)
            stmt = stmt.where(runs.c.state == RunState.QUEUED.value)
        return stmt.values(values).returning(runs.c.next_seq, *INFO_COLUMNS)

    return Prepared(build)


@functools.cache
def plans_statement(names: tuple[str, ...], partial: frozenset[str]) -> Prepared:
    """Apply a batch of workflow task commits to their runs: ``:plans`` is a JSON list
    of ``{run_id, n, expected_count, read_state, set_<name>...}``; each run still at
    the task count and state its task read gets ``n`` more seqs and its new values
    (``names``; one in ``partial`` is kept where its ``has_<name>`` is false)."""

    def build(_: str) -> Any:
        fields: list[tuple[str, Any]] = [
            ("run_id", runs.c.run_id.type),
            ("n", Integer()),
            ("expected_count", Integer()),
            ("read_state", runs.c.state.type),
        ]
        for name in names:
            fields.append((f"set_{name}", runs.c[name].type))
            if name in partial:
                fields.append((f"has_{name}", postgresql.BOOLEAN()))
        plans = _recordset_table("plans", fields, "p")
        values: dict[str, Any] = {
            "next_seq": runs.c.next_seq + plans.c.n,
            "updated_at": bindparam("now", type_=runs.c.updated_at.type),
        }
        for name in names:
            new = plans.c[f"set_{name}"]
            if isinstance(runs.c[name].type, JSON):
                new = func.coalesce(new, literal_column("'null'::jsonb"))
            if name in partial:
                new = case((plans.c[f"has_{name}"], new), else_=runs.c[name])
            values[name] = new
        return (
            update(runs)
            .where(
                runs.c.run_id == plans.c.run_id,
                _by_key(),  # the runs by their primary key, never by a scan
                runs.c.workflow_task_count == plans.c.expected_count,
                runs.c.state == plans.c.read_state,
                one_of(runs.c.state, ACTIVE),
            )
            .values(values)
            .returning(runs.c.next_seq, *INFO_COLUMNS)
        )

    return Prepared(build)


def _by_key() -> Any:
    """SQL ``run_id = ANY(:ids)``: said beside the join, it lets PostgreSQL find the runs by
    their primary key however the join is planned."""
    return runs.c.run_id == any_(bindparam("ids", type_=ARRAY(runs.c.run_id.type)))


def _recordset_table(name: str, fields: list[tuple[str, Any]], alias: str) -> Any:
    """``jsonb_to_recordset(CAST(:name AS jsonb)) AS alias(fields...)`` as a table: the
    parameter is the JSON text of a list of objects."""
    return (
        func.jsonb_to_recordset(cast(bindparam(name, type_=Text), postgresql.JSONB))
        .table_valued(*(column(n, t) for n, t in fields))
        .render_derived(name=alias, with_types=True)
    )
