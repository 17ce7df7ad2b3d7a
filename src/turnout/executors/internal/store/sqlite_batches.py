"""SQLite's batched run updates, built once (see ``prepared.py``), as ``pg_batches.py``
is PostgreSQL's.

A batch's per-run values travel as one JSON document, read row by row with
``json_each`` and joined to the runs they update (``UPDATE ... FROM``): one statement
text whatever the batch, compiled once, where the portable form (``sql.grouped_case``)
writes a ``CASE`` that grows with the batch and is built and compiled at every commit.
Values go into the document as the driver would receive them (each column type's own
conversion applied first), so the database stores what it stored before.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Integer, bindparam, case, func, select, update
from sqlalchemy.engine import Dialect

from turnout.contracts.states import RunState
from turnout.executors.internal.schema import runs
from turnout.executors.internal.store.prepared import Prepared, among, const
from turnout.executors.internal.store.sql import ACTIVE, INFO_COLUMNS

__all__ = ["bump_statement", "plan_rows", "plans_statement"]

_ACTIVE = runs.c.state.in_([const(s) for s in ACTIVE])


def _document(name: str, fields: Mapping[str, Any]) -> Any:
    """The rows of the JSON list ``:name`` (of objects), one column per field."""
    each = func.json_each(bindparam(name)).table_valued("value")
    columns = [
        func.json_extract(each.c.value, f"$.{field}", type_=type_).label(field)
        for field, type_ in fields.items()
    ]
    return select(*columns).subquery(name)


@functools.cache
def bump_statement(claiming: bool, guard: tuple[str, ...] = ()) -> Prepared:
    """Add ``n`` to the next seq of each open run of ``:counts`` (a JSON list of
    ``{run_id, n}``; ``:ids`` its run ids), set ``updated_at`` to ``:now``; with
    ``claiming``, only queued runs, which become claimed (started now, unless they
    started before); only runs whose columns ``guard`` hold the parameters of the same
    names. Returns the new next seq and the run's info columns."""

    def build(dialect: str) -> Any:
        given = _document("counts", {"run_id": runs.c.run_id.type, "n": Integer()})
        now = bindparam("now", type_=runs.c.updated_at.type)
        values: dict[str, Any] = {"next_seq": runs.c.next_seq + given.c.n, "updated_at": now}
        stmt = update(runs).where(
            runs.c.run_id == given.c.run_id,
            among(dialect, runs.c.run_id, "ids"),  # the runs by primary key
            _ACTIVE,
            *(runs.c[name] == bindparam(name, type_=runs.c[name].type) for name in guard),
        )
        if claiming:
            values["state"] = RunState.CLAIMED.value
            values["started_at"] = func.coalesce(runs.c.started_at, now)
            stmt = stmt.where(runs.c.state == const(RunState.QUEUED.value))
        return stmt.values(values).returning(runs.c.next_seq, *INFO_COLUMNS)

    return Prepared(build)


@functools.cache
def plans_statement(names: tuple[str, ...], partial: frozenset[str]) -> Prepared:
    """Apply a batch of workflow task commits to their runs: ``:plans`` is a JSON list
    of ``{run_id, n, expected_count, read_state, set_<name>...}`` (``:ids`` its run
    ids); each run still at the task count and state its task read gets ``n`` more seqs
    and its new values (``names``; one in ``partial`` is kept where its ``has_<name>``
    is false)."""

    def build(dialect: str) -> Any:
        fields: dict[str, Any] = {
            "run_id": runs.c.run_id.type,
            "n": Integer(),
            "expected_count": Integer(),
            "read_state": runs.c.state.type,
        }
        for name in names:
            fields[f"set_{name}"] = runs.c[name].type
            if name in partial:
                fields[f"has_{name}"] = Integer()
        plans = _document("plans", fields)
        values: dict[str, Any] = {
            "next_seq": runs.c.next_seq + plans.c.n,
            "updated_at": bindparam("now", type_=runs.c.updated_at.type),
        }
        for name in names:
            new = plans.c[f"set_{name}"]
            if name in partial:
                new = case((plans.c[f"has_{name}"] == 1, new), else_=runs.c[name])
            values[name] = new
        return (
            update(runs)
            .where(
                runs.c.run_id == plans.c.run_id,
                among(dialect, runs.c.run_id, "ids"),  # the runs by primary key
                runs.c.workflow_task_count == plans.c.expected_count,
                runs.c.state == plans.c.read_state,
                _ACTIVE,
            )
            .values(values)
            .returning(runs.c.next_seq, *INFO_COLUMNS)
        )

    return Prepared(build)


def plan_rows(
    dialect: Dialect, names: Sequence[str], partial: frozenset[str], rows: list[dict[str, Any]]
) -> str:
    """The ``:plans`` document of ``rows`` (``set_<name>`` as the Python values of the
    runs' columns): each value converted by its column's type for ``dialect``."""
    converters = {f"set_{name}": _converter(dialect, name) for name in names}
    for row in rows:
        for key, convert in converters.items():
            row[key] = convert(row[key])
        for name in partial:
            row[f"has_{name}"] = int(row[f"has_{name}"])
    return json.dumps(rows)


@functools.cache
def _converter(dialect: Dialect, name: str) -> Callable[[Any], Any]:
    convert = runs.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    return convert if convert is not None else _same


def _same(value: Any) -> Any:
    return value
