"""Statements built once: the store's hot path.

A :class:`Prepared` holds one SQLAlchemy Core statement, built the first time it is
used and never again, whose values all come in as named parameters. Each dialect
compiles it once (:meth:`Prepared.compiled`): its SQL text, a converter per parameter
and per result column, and a row type. The store runs it through a dialect hook
(:meth:`StoreTransactions._fetch` / ``_write``): on PostgreSQL straight on the psycopg
connection of the transaction (a statement psycopg prepares on the server, no
SQLAlchemy execution context, no result object), elsewhere through SQLAlchemy.

Building a statement, its cache key and SQLAlchemy's execution cost about four times
the database round trip of a small statement; the hot statements pay none of it.
Errors look the same either way: the driver's errors become SQLAlchemy's
(``IntegrityError``, ``OperationalError``...), a value a parameter's type refuses a
``StatementError``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    String,
    Text,
    any_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    types,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import StatementError
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Compiled",
    "Prepared",
    "Row",
    "among",
    "const",
    "one_of",
    "rows_among",
    "rows_param",
]

Converter = Callable[[Any], Any]


class Row(tuple[Any, ...]):
    """A result row: a tuple whose columns are attributes too, as SQLAlchemy's rows."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    @classmethod
    def _make(cls, values: Iterable[Any]) -> Row:
        return tuple.__new__(cls, values)

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))


def _row_type(keys: tuple[str, ...]) -> type[Row]:
    columns: dict[str, Any] = {k: property(itemgetter(i)) for i, k in enumerate(keys)}
    return type("Row", (Row,), {"__slots__": (), "_fields": keys, **columns})


@dataclass(frozen=True)
class Compiled:
    """One statement compiled for one dialect."""

    sql: str
    names: tuple[str, ...]
    """Parameter names, in the order of a positional paramstyle's placeholders."""
    defaults: Mapping[str, Any]
    """Values of the parameters the statement carries itself (literal binds)."""
    binders: Mapping[str, Converter]
    """Parameter name -> its type's conversion to the driver's value."""
    readers: tuple[Converter | None, ...] | None
    """Per result column, its type's conversion from the driver's value (None: the
    statement returns no rows, or columns known only when it runs)."""
    row: type[Row] | None
    replan: bool = False
    """Planned again at each run (see :class:`Prepared`)."""

    def parameters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The driver's parameters for ``params`` (every converter applied)."""
        merged = {**self.defaults, **params} if self.defaults else dict(params)
        binders = self.binders
        for name, convert in binders.items():
            if name in merged:
                try:
                    merged[name] = convert(merged[name])
                except Exception as exc:
                    raise StatementError(
                        f"({type(exc).__module__}.{type(exc).__name__}) {exc}",
                        self.sql,
                        None,
                        exc,
                    ) from exc
        return merged

    def rows(self, raw: list[tuple[Any, ...]]) -> list[Row]:
        """The driver's rows, every column converted, as :class:`Row`."""
        row, readers = self.row, self.readers
        if row is None or readers is None:
            raise TypeError("this statement returns no rows")
        # Only the columns whose type converts (most come from the driver as they are).
        converting = [(i, f) for i, f in enumerate(readers) if f is not None]
        if not converting:
            return [row._make(r) for r in raw]
        found = []
        for r in raw:
            values = list(r)
            for i, convert in converting:
                values[i] = convert(values[i])
            found.append(row._make(values))
        return found


class Prepared:
    """A statement built once per dialect (by ``build(dialect_name)``, on first use) and
    compiled once.

    With ``replan``, PostgreSQL plans it again at each run, for the values it runs with,
    instead of keeping one plan for the connection: for a statement whose best plan
    moves with the data, such as a claim over a queue whose ready set grows from nothing
    to thousands of rows faster than statistics follow. A plan kept from a small queue
    sorts the whole backlog at every claim.
    """

    __slots__ = ("_build", "_compiled", "_replan", "_statements")

    def __init__(self, build: Callable[[str], Executable], *, replan: bool = False) -> None:
        self._build = build
        self._replan = replan
        self._statements: dict[str, Executable] = {}
        self._compiled: dict[str, Compiled] = {}

    def statement(self, dialect: str) -> Executable:
        """The SQLAlchemy Core statement for the dialect named ``dialect``."""
        found = self._statements.get(dialect)
        if found is None:
            found = self._statements[dialect] = self._build(dialect)
        return found

    def compiled(self, dialect: Dialect) -> Compiled:
        """The statement compiled for ``dialect``."""
        found = self._compiled.get(dialect.name)
        if found is None:
            statement = self.statement(dialect.name)
            found = _compile(statement, dialect)
            if self._replan:
                found = dataclasses.replace(found, replan=True)
            self._compiled[dialect.name] = found
        return found


class _JsonList(TypeDecorator[list[Any]]):
    """A list parameter bound as its JSON text, which SQLite's ``json_each`` reads."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(list(value))


def _json_each(name: str) -> Any:
    return func.json_each(bindparam(name, type_=_JsonList())).table_valued("value")


def among(dialect: str, column: Any, name: str) -> Any:
    """SQL ``column IN :name`` for a list parameter, one statement text whatever its
    length: one array on PostgreSQL, the list's JSON text read by ``json_each`` on
    SQLite (an ``IN`` on a key still finds its rows by index)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(select(_json_each(name).c.value))


def const(value: str) -> Any:
    """A string constant written into the SQL text, not bound: a condition such as
    ``state = 'queued'`` then matches a partial index's own ``WHERE`` (SQLite compares
    the terms as written; PostgreSQL cannot prove it from a parameter in a plan kept
    for every value)."""
    if "'" in value:
        raise ValueError(f"not a constant for SQL text: {value!r}")
    return literal_column(f"'{value}'", String())


def one_of(column: Any, values: Sequence[Any]) -> Any:
    """SQL ``column IN values`` for constant values, as ``OR``s (nothing to expand)."""
    return or_(*(column == v for v in values))


def rows_among(dialect: str, columns: Sequence[Any], name: str) -> Any:
    """SQL ``(columns...) IN :name`` for a list of tuples (pass it through
    :func:`rows_param`): on PostgreSQL one array per column, zipped by ``unnest``; on
    SQLite the list's JSON text, each tuple's fields read by ``json_extract``."""
    if dialect == "postgresql":
        arrays = [bindparam(f"{name}_{i}", type_=ARRAY(c.type)) for i, c in enumerate(columns)]
        keys = [f"v{i}" for i in range(len(columns))]
        given = func.unnest(*arrays).table_valued(*keys).render_derived()
        return tuple_(*columns).in_(select(*(given.c[k] for k in keys)))
    each = _json_each(name)
    fields = [func.json_extract(each.c.value, f"$[{i}]") for i in range(len(columns))]
    return tuple_(*columns).in_(select(*fields))


def rows_param(dialect: str, name: str, rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """The parameters of a :func:`rows_among` named ``name`` for ``rows``."""
    if dialect == "postgresql":
        width = len(rows[0]) if rows else 0
        return {f"{name}_{i}": [r[i] for r in rows] for i in range(width)}
    return {name: [list(r) for r in rows]}


def _reader(type_: Any, dialect: Dialect) -> Converter | None:
    reader: Converter | None = type_.dialect_impl(dialect).result_processor(dialect, None)
    return reader


def _compile(statement: Executable, dialect: Dialect) -> Compiled:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if compiled.post_compile_params or compiled.literal_execute_params:
        raise TypeError("a prepared statement cannot expand parameters (use arrays)")
    binders: dict[str, Converter] = {}
    defaults: dict[str, Any] = {}
    for name, bind in compiled.binds.items():
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if convert is not None:
            binders[name] = convert
        if not bind.required:
            defaults[name] = bind.effective_value
    names = tuple(compiled.positiontup or ())
    columns = list(getattr(statement, "exported_columns", ()))
    readers: tuple[Converter | None, ...] | None = None
    row: type[Row] | None = None
    if columns:
        readers = tuple(
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        )
        row = _row_type(tuple(c.key for c in columns))
    return Compiled(_arrays_binary(compiled), names, defaults, binders, readers, row)


def _arrays_binary(compiled: Any) -> str:
    """The SQL text, its array parameters sent in binary on psycopg (``%(name)b``):
    psycopg writes a text array in Python, quoting every element, about twice the CPU
    of the whole execution of a statement with a 50-element array."""
    sql: str = compiled.string
    if compiled.dialect.paramstyle != "pyformat":
        return sql
    for name, bind in compiled.binds.items():
        if isinstance(bind.type, types.ARRAY):
            placeholder = f"%({compiled.escaped_bind_names.get(name, name)})s"
            sql = sql.replace(placeholder, placeholder[:-1] + "b")
    return sql
