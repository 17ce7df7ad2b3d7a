"""Search attributes in the database: the index rows a run's attributes are kept as, the
type each name has in a tenant, and a parsed list query compiled to SQL over them.

A run's attributes are stored twice in one transaction: as it shows them
(``turnout_runs.search_attributes``) and as index rows (``turnout_search_values``),
one per value in the column of its type, so each comparison of a query is an
``EXISTS`` over an index. A name's type is fixed in ``turnout_search_attribute_names``
by its first use; a value of another type is refused, as Temporal refuses a value
whose type differs from the registered one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    exists,
    false,
    func,
    insert,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.limits import InvalidInputError
from turnout.contracts.listing import (
    WorkflowExecutionCount,
    WorkflowExecutionCountAggregationGroup,
)
from turnout.contracts.search_attributes import BUILTIN_FIELDS, MAX_KEYWORD_LENGTH
from turnout.contracts.search_attributes import SearchAttributeIndexedValueType as T
from turnout.contracts.states import ACTIVE_STATES, RunState
from turnout.contracts.visibility import (
    TIME_FIELDS,
    And,
    Compare,
    Condition,
    InvalidQueryError,
    Order,
    Query,
)
from turnout.executors.internal.schema import runs, search_attribute_names, search_values
from turnout.executors.internal.store.items import ItemCore

__all__ = ["SearchIndex", "compile_order", "compile_where", "status_of_state", "value_rows"]

_COLUMN = {
    T.KEYWORD: "keyword",
    T.KEYWORD_LIST: "keyword",
    T.TEXT: "text",
    T.INT: "integer",
    T.DOUBLE: "real",
    T.BOOL: "flag",
    T.DATETIME: "moment",
}

_STATUS_STATES: dict[str, tuple[str, ...]] = {
    "Running": tuple(sorted(s.value for s in ACTIVE_STATES)),
    "Completed": (RunState.COMPLETED.value,),
    "Failed": (RunState.FAILED.value,),
    "Canceled": (RunState.CANCELED.value,),
    "Terminated": (RunState.TERMINATED.value,),
    "ContinuedAsNew": (RunState.CONTINUED_AS_NEW.value,),
    "TimedOut": (RunState.TIMED_OUT.value,),
}


def status_of_state(state: str) -> str:
    """The ExecutionStatus of a run state."""
    return next(status for status, states in _STATUS_STATES.items() if state in states)


def value_rows(tenant_id: str, run_id: str, stored: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The index rows of a run's search attributes (the stored form)."""
    rows: list[dict[str, Any]] = []
    for name, entry in stored.items():
        kind = T.named(entry["type"])
        values = entry["value"] if kind is T.KEYWORD_LIST else [entry["value"]]
        for position, value in enumerate(values):
            if kind is T.DATETIME:
                value = datetime.fromisoformat(value)
            rows.append(_row(tenant_id, run_id, name, position, _COLUMN[kind], value))
        if kind is T.TEXT:
            # The text's words, each a row of its own: what ``Note = 'rush'`` looks up.
            for position, word in enumerate(words(entry["value"]), start=1):
                rows.append(_row(tenant_id, run_id, name, position, "keyword", word))
    return rows


def _row(
    tenant_id: str, run_id: str, name: str, position: int, column: str, value: Any
) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(_COLUMNS)
    row.update(run_id=run_id, tenant_id=tenant_id, name=name, position=position)
    row[column] = value
    return row


_COLUMNS = ("keyword", "text", "integer", "real", "flag", "moment")
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The distinct words of a Text value, lowercased, as a query matches them."""
    return list(dict.fromkeys(w.lower()[:MAX_KEYWORD_LENGTH] for w in _WORD.findall(text)))


class SearchIndex(ItemCore):
    """Write a run's search attributes: the names' types, the index rows."""

    async def _register_names(
        self, conn: AsyncConnection, tenant_id: str, stored: Mapping[str, Any]
    ) -> None:
        """Fix the type of each name ``stored`` uses for the first time; refuse
        (InvalidInputError) a value whose type differs from its name's."""
        given = {name: entry["type"] for name, entry in stored.items() if entry is not None}
        if not given:
            return
        await conn.execute(
            self._insert(search_attribute_names).on_conflict_do_nothing(),
            [{"tenant_id": tenant_id, "name": n, "type": t} for n, t in given.items()],
        )
        known = await conn.execute(
            select(search_attribute_names.c.name, search_attribute_names.c.type).where(
                search_attribute_names.c.tenant_id == tenant_id,
                search_attribute_names.c.name.in_(list(given)),
            )
        )
        for name, kind in known.all():
            if given[name] != kind:
                raise InvalidInputError(
                    f"search attribute {name!r} is {kind} in tenant {tenant_id!r}, and a value "
                    f"of type {given[name]} was given; use SearchAttributeKey.for_"
                    f"{_FOR[kind]}({name!r}) or another name"
                )

    async def _index_search_attributes(
        self,
        conn: AsyncConnection,
        tenant_id: str,
        run_id: str,
        updates: Mapping[str, Any],
        *,
        fresh: bool,
    ) -> None:
        """Write the index rows of ``updates`` (None removes a name); ``fresh``: the run
        has no rows yet."""
        await self._register_names(conn, tenant_id, updates)
        if not fresh:
            await conn.execute(
                delete(search_values).where(
                    search_values.c.run_id == run_id, search_values.c.name.in_(list(updates))
                )
            )
        kept = {name: entry for name, entry in updates.items() if entry is not None}
        rows = value_rows(tenant_id, run_id, kept)
        if rows:
            await conn.execute(insert(search_values), rows)

    async def _types_for(self, tenant_id: str, query: Query) -> dict[str, str]:
        """The tenant's search attribute types, read only when ``query`` names a field
        that is not one every run has."""
        if query.fields() <= _BUILTIN_FIELDS:
            return {}
        return await self.search_attribute_types(tenant_id)

    async def count_runs(self, tenant_id: str, query: Query) -> WorkflowExecutionCount:
        """How many of a tenant's runs ``query`` matches; grouped by ExecutionStatus when
        it says ``GROUP BY ExecutionStatus``."""
        condition = compile_where(query.where, await self._types_for(tenant_id, query))
        stmt = (
            select(runs.c.state, func.count())
            .where(runs.c.tenant_id == tenant_id, condition)
            .group_by(runs.c.state)
        )
        async with self.reader.connect() as conn:
            per_state = (await conn.execute(stmt)).all()
        per_status: dict[str, int] = {}
        for state, count in per_state:
            status = status_of_state(state)
            per_status[status] = per_status.get(status, 0) + count
        groups = (
            [WorkflowExecutionCountAggregationGroup(n, [s]) for s, n in sorted(per_status.items())]
            if query.group_by
            else []
        )
        return WorkflowExecutionCount(sum(per_status.values()), groups)

    async def search_attribute_types(self, tenant_id: str) -> dict[str, str]:
        """The type of each search attribute name the tenant has used."""
        stmt = select(search_attribute_names.c.name, search_attribute_names.c.type).where(
            search_attribute_names.c.tenant_id == tenant_id
        )
        async with self.reader.connect() as conn:
            return {name: kind for name, kind in (await conn.execute(stmt)).all()}


_FOR = {
    "Text": "text",
    "Keyword": "keyword",
    "Int": "int",
    "Double": "float",
    "Bool": "bool",
    "Datetime": "datetime",
    "KeywordList": "keyword_list",
}

_BUILTIN_FIELDS = frozenset(BUILTIN_FIELDS)

_BUILTIN_COLUMNS = {
    "WorkflowId": runs.c.workflow_id,
    "RunId": runs.c.run_id,
    "WorkflowType": runs.c.workflow_type,
    "TaskQueue": runs.c.task_queue,
    "StartTime": runs.c.requested_at,
    "ExecutionTime": runs.c.requested_at,
    "CloseTime": runs.c.closed_at,
}


def _moment(value: Any, node: Compare) -> datetime:
    if isinstance(value, str) and len(value) > len("2026-01-31"):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise InvalidQueryError(
        f"{node.field} at column {node.column} is compared with {value!r}; give a time in "
        "quotes, e.g. '2026-01-31T12:00:00Z'"
    )


def _typed(value: Any, kind: T, node: Compare) -> Any:
    """``value`` of the query as the type of the field it is compared with."""
    if kind is T.DATETIME:
        return _moment(value, node)
    if kind in (T.INT, T.DOUBLE) and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if kind is T.BOOL and isinstance(value, bool):
        return value
    if kind in (T.KEYWORD, T.KEYWORD_LIST, T.TEXT) and isinstance(value, str):
        return value
    raise InvalidQueryError(
        f"{node.field} at column {node.column} is of type {kind.type_name} and is compared with "
        f"{value!r}; give a value of that type"
    )


def _comparison(column: Any, node: Compare, kind: T) -> ColumnElement[bool]:
    """``column op value`` for one node (its values converted to ``kind``)."""
    op, value = node.op, node.value
    if op in ("is null", "is not null"):
        raise AssertionError("handled by the caller")
    if op in ("in", "not in"):
        values = [_typed(v, kind, node) for v in value]
        found: ColumnElement[bool] = column.in_(values) if op == "in" else column.not_in(values)
        return found
    if op == "between":
        low, high = _typed(value[0], kind, node), _typed(value[1], kind, node)
        between: ColumnElement[bool] = column.between(low, high)
        return between
    if op == "starts_with":
        if kind not in (T.KEYWORD, T.KEYWORD_LIST):
            raise InvalidQueryError(
                f"STARTS_WITH at column {node.column} takes a Keyword field; {node.field} is "
                f"a {kind.type_name}"
            )
        # A range, not LIKE: case-sensitive on both databases (as on Temporal), and the
        # index serves it.
        started: ColumnElement[bool] = and_(column >= value, column < value + "\U0010ffff")
        return started
    typed = _typed(value, kind, node)
    return {  # type: ignore[no-any-return]
        "=": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
    }[op](typed)


def _status(node: Compare) -> ColumnElement[bool]:
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    if node.op in ("in", "not in", "=", "!="):
        states = [s for v in values for s in _STATUS_STATES[v]]
        inside = runs.c.state.in_(states)
        return inside if node.op in ("in", "=") else not_(inside)
    if node.op == "is not null":
        return true()
    if node.op == "is null":
        return false()
    raise InvalidQueryError(
        f"ExecutionStatus at column {node.column} is compared with {node.op.upper()}; use =, "
        "!=, IN or NOT IN"
    )


def _text(node: Compare, row: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """A Text attribute "is" a value when it holds each of the value's words."""
    if node.op not in ("=", "!="):
        raise InvalidQueryError(
            f"{node.field} at column {node.column} is a Text attribute: compare it with = or "
            "!= (it matches the text holding each word of the value)"
        )
    wanted = words(_typed(node.value, T.TEXT, node))
    if not wanted:
        raise InvalidQueryError(
            f"{node.field} at column {node.column} is compared with {node.value!r}, which has "
            "no words; a Text attribute matches words"
        )
    found = and_(*(exists().where(*row, search_values.c.keyword == w) for w in wanted))
    return found if node.op == "=" else and_(exists().where(*row), not_(found))


def _custom(node: Compare, kind: T) -> ColumnElement[bool]:
    """A comparison of a search attribute: some index row of the run matches it."""
    column = getattr(search_values.c, _COLUMN[kind])
    row = [
        search_values.c.tenant_id == runs.c.tenant_id,  # lets the (tenant, name, value) index serve
        search_values.c.name == node.field,
        search_values.c.run_id == runs.c.run_id,
    ]
    has = exists().where(*row)
    if node.op == "is null":
        return not_(has)
    if node.op == "is not null":
        return has
    if kind is T.TEXT:
        return _text(node, row)
    if kind is T.KEYWORD_LIST and node.op in ("!=", "not in"):
        # A list "is not" a value when none of its elements is.
        positive = Compare(node.field, "=" if node.op == "!=" else "in", node.value, node.column)
        return and_(has, not_(exists().where(*row, _comparison(column, positive, kind))))
    return exists().where(*row, _comparison(column, node, kind))


def compile_where(node: Condition | None, types: Mapping[str, str]) -> ColumnElement[bool]:
    """The SQL condition on ``turnout_runs`` of a parsed query's ``where``; ``types`` are
    the tenant's search attribute names and their types."""
    if node is None:
        return true()
    if isinstance(node, And):
        return and_(compile_where(node.left, types), compile_where(node.right, types))
    if not isinstance(node, Compare):
        return or_(compile_where(node.left, types), compile_where(node.right, types))
    if node.field == "ExecutionStatus":
        return _status(node)
    column = _BUILTIN_COLUMNS.get(node.field)
    if column is not None:
        if node.op == "is null":
            return column.is_(None)
        if node.op == "is not null":
            return column.is_not(None)
        kind = T.DATETIME if node.field in TIME_FIELDS else T.KEYWORD
        return _comparison(column, node, kind)
    return _custom(node, _kind_of(node.field, node.column, types))


def _kind_of(field: str, column: int, types: Mapping[str, str]) -> T:
    if field not in types:
        known = ", ".join(sorted(types)) or "none yet"
        raise InvalidQueryError(
            f"the query names {field!r} at column {column}, which is neither a field of "
            f"every run nor a search attribute of this tenant (search attributes: {known})"
        )
    return T.named(types[field])


def compile_order(order: Sequence[Order], types: Mapping[str, str]) -> list[Any]:
    """The ORDER BY terms of a parsed query (newest first when it gives none)."""
    terms: list[Any] = []
    for term in order:
        if term.field == "ExecutionStatus":
            column: Any = runs.c.state
        elif term.field in _BUILTIN_COLUMNS:
            column = _BUILTIN_COLUMNS[term.field]
        else:
            kind = _kind_of(term.field, term.column, types)
            if kind in (T.KEYWORD_LIST, T.TEXT):
                raise InvalidQueryError(
                    f"ORDER BY {term.field} at column {term.column}: a {kind.type_name} "
                    "attribute cannot be ordered by"
                )
            value = getattr(search_values.c, _COLUMN[kind])
            column = (
                select(value)
                .where(search_values.c.run_id == runs.c.run_id, search_values.c.name == term.field)
                .scalar_subquery()
            )
        # A run without the value sorts last either way, on both databases (as on Temporal).
        terms.append((column.desc() if term.descending else column.asc()).nulls_last())
    return [*terms, runs.c.requested_at.desc(), runs.c.run_id.desc()]
