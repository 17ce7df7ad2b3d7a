"""The list query language: the subset of Temporal's visibility queries turnout
understands, parsed into a tree each executor turns into its own search.

    WorkflowType = 'Checkout' AND (ExecutionStatus = 'Running' OR CustomerId IN ('a', 'b'))
    StartTime BETWEEN '2026-01-01T00:00:00Z' AND '2026-02-01T00:00:00Z' ORDER BY StartTime DESC

- fields: WorkflowId, RunId, WorkflowType, TaskQueue, ExecutionStatus, StartTime,
  ExecutionTime, CloseTime, and the names of search attributes;
- comparisons: ``=``, ``!=`` (or ``<>``), ``<``, ``<=``, ``>``, ``>=``, ``BETWEEN a AND b``,
  ``IN (...)``, ``NOT IN (...)``, ``STARTS_WITH``, ``IS NULL``, ``IS NOT NULL``;
- ``AND``, ``OR`` and parentheses; ``ORDER BY field [ASC|DESC], ...``;
- ``GROUP BY ExecutionStatus``, in ``count_workflows`` only;
- values: strings in single or double quotes, numbers, ``true`` and ``false``.

Both executors parse a query here, so both refuse the same queries with the same one-
line :class:`InvalidQueryError`, which names the offending token and its column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from turnout.contracts.limits import InvalidInputError

__all__ = [
    "EXECUTION_STATUSES",
    "And",
    "Compare",
    "Condition",
    "InvalidQueryError",
    "Or",
    "Order",
    "Query",
    "parse_query",
    "render",
]

EXECUTION_STATUSES = (
    "Running",
    "Completed",
    "Failed",
    "Canceled",
    "Terminated",
    "ContinuedAsNew",
    "TimedOut",
)
"""The values of ``ExecutionStatus`` (Temporal's spelling)."""

TIME_FIELDS = ("StartTime", "ExecutionTime", "CloseTime")
"""The builtin fields that hold a moment."""


class InvalidQueryError(InvalidInputError):
    """A list query turnout cannot read; the message names the token and its column."""


@dataclass(frozen=True)
class Compare:
    """``field op value``: ``op`` is one of ``= != < <= > >=``, ``in`` / ``not in``
    (``value`` a tuple), ``between`` (``value`` a pair), ``starts_with``, ``is null``
    and ``is not null`` (``value`` None)."""

    field: str
    op: str
    value: Any
    column: int
    """Where the field starts in the query (1-based), for errors found later."""


@dataclass(frozen=True)
class And:
    """Both conditions hold."""

    left: Condition
    right: Condition


@dataclass(frozen=True)
class Or:
    """Either condition holds."""

    left: Condition
    right: Condition


Condition = Compare | And | Or


@dataclass(frozen=True)
class Order:
    """One ``ORDER BY`` term."""

    field: str
    descending: bool
    column: int


@dataclass(frozen=True)
class Query:
    """A parsed query: its condition (None: every run), its order and its grouping."""

    where: Condition | None
    order_by: tuple[Order, ...] = ()
    group_by: tuple[str, ...] = ()

    def fields(self) -> set[str]:
        """Every field the query names."""
        found = {o.field for o in self.order_by} | set(self.group_by)
        stack: list[Condition | None] = [self.where]
        while stack:
            node = stack.pop()
            if isinstance(node, Compare):
                found.add(node.field)
            elif node is not None:
                stack.extend((node.left, node.right))
        return found


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![A-Za-z_])
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)
    | (?P<bad>\S)
    )""",
    re.VERBOSE,
)

_KEYWORDS = {
    "AND", "OR", "NOT", "IN", "BETWEEN", "STARTS_WITH", "IS", "NULL",
    "ORDER", "GROUP", "BY", "ASC", "DESC", "TRUE", "FALSE",
}  # fmt: skip


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    value: Any
    column: int


def _unquote(text: str) -> str:
    body = text[1:-1]
    if text[0] == "'":
        body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body)


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind is None:
            continue
        raw = match.group(kind)
        column = match.start(kind) + 1
        if kind == "bad":
            raise InvalidQueryError(
                f"the query has an unexpected character {raw!r} at column {column}"
            )
        value: Any = raw
        if kind == "string":
            value = _unquote(raw)
        elif kind == "number":
            value = float(raw) if any(c in raw for c in ".eE") else int(raw)
        elif kind == "word":
            if raw.startswith("`"):
                value = raw[1:-1]
            elif raw.upper() in _KEYWORDS:
                kind, value = "keyword", raw.upper()
        out.append(_Token(kind, raw, value, column))
    return out


class _Parser:
    def __init__(self, text: str, *, grouping: bool) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0
        self.grouping = grouping

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def fail(self, expected: str) -> InvalidQueryError:
        token = self.peek()
        if token is None:
            return InvalidQueryError(f"the query ends early: expected {expected}")
        return InvalidQueryError(
            f"the query has {token.text!r} at column {token.column} where {expected} was expected"
        )

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "keyword" and token.value in words:
            self.at += 1
            return True
        return False

    def punct(self, mark: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "punct" and token.value == mark:
            self.at += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise self.fail(word)

    def parse(self) -> Query:
        where = None
        token = self.peek()
        if token is not None and not (
            token.kind == "keyword" and token.value in ("ORDER", "GROUP")
        ):
            where = self.disjunction()
        order_by: tuple[Order, ...] = ()
        group_by: tuple[str, ...] = ()
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            order_by = self.order_terms()
        elif self.keyword("GROUP"):
            if not self.grouping:
                raise InvalidQueryError(
                    "GROUP BY is only for count_workflows; list_workflows returns runs"
                )
            self.expect_keyword("BY")
            group_by = (self.field("a field to group by")[0],)
            if group_by != ("ExecutionStatus",):
                raise InvalidQueryError(
                    f"the query groups by {group_by[0]!r}; only GROUP BY ExecutionStatus "
                    "is supported"
                )
        if self.peek() is not None:
            raise self.fail("AND, OR, ORDER BY or the end of the query")
        return Query(where, order_by, group_by)

    def order_terms(self) -> tuple[Order, ...]:
        terms = []
        while True:
            name, column = self.field("a field to order by")
            descending = self.keyword("DESC")
            if not descending:
                self.keyword("ASC")
            terms.append(Order(name, descending, column))
            if not self.punct(","):
                return tuple(terms)

    def disjunction(self) -> Condition:
        node = self.conjunction()
        while self.keyword("OR"):
            node = Or(node, self.conjunction())
        return node

    def conjunction(self) -> Condition:
        node = self.primary()
        while self.keyword("AND"):
            node = And(node, self.primary())
        return node

    def primary(self) -> Condition:
        if self.punct("("):
            node = self.disjunction()
            if not self.punct(")"):
                raise self.fail("')'")
            return node
        return self.comparison()

    def field(self, expected: str) -> tuple[str, int]:
        token = self.peek()
        if token is None or token.kind != "word":
            raise self.fail(expected)
        self.at += 1
        return str(token.value), token.column

    def value(self) -> Any:
        token = self.peek()
        if token is not None and token.kind in ("string", "number"):
            self.at += 1
            return token.value
        if self.keyword("TRUE"):
            return True
        if self.keyword("FALSE"):
            return False
        raise self.fail("a value (a quoted string, a number, true or false)")

    def comparison(self) -> Compare:
        name, column = self.field("a field name")
        token = self.peek()
        if token is not None and token.kind == "op":
            self.at += 1
            op = "!=" if token.value == "<>" else str(token.value)
            return Compare(name, op, self.value(), column)
        if self.keyword("BETWEEN"):
            low = self.value()
            self.expect_keyword("AND")
            return Compare(name, "between", (low, self.value()), column)
        negated = self.keyword("NOT")
        if self.keyword("IN"):
            if not self.punct("("):
                raise self.fail("'(' after IN")
            values = [self.value()]
            while self.punct(","):
                values.append(self.value())
            if not self.punct(")"):
                raise self.fail("',' or ')'")
            return Compare(name, "not in" if negated else "in", tuple(values), column)
        if negated:
            raise self.fail("IN after NOT")
        if self.keyword("STARTS_WITH"):
            prefix = self.value()
            if not isinstance(prefix, str):
                raise InvalidQueryError(
                    f"STARTS_WITH after {name} at column {column} takes a quoted string"
                )
            return Compare(name, "starts_with", prefix, column)
        if self.keyword("IS"):
            op = "is not null" if self.keyword("NOT") else "is null"
            self.expect_keyword("NULL")
            return Compare(name, op, None, column)
        raise self.fail(f"a comparison after {name} (=, !=, <, >, BETWEEN, IN, STARTS_WITH, IS)")


def parse_query(text: str | None, *, grouping: bool = False) -> Query:
    """The parsed ``text`` (an empty or missing query matches every run); ``grouping``
    allows ``GROUP BY`` (``count_workflows``)."""
    if text is None or not text.strip():
        return Query(None)
    if "\x00" in text:
        raise InvalidQueryError("the query holds a NUL character; remove it")
    query = _Parser(text, grouping=grouping).parse()
    _check_statuses(query.where)
    return query


def _check_statuses(node: Condition | None) -> None:
    """Refuse an ExecutionStatus value Temporal does not have, naming the ones it has."""
    if node is None:
        return
    if isinstance(node, And | Or):
        _check_statuses(node.left)
        _check_statuses(node.right)
        return
    if node.field != "ExecutionStatus" or node.value is None:
        return
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    for value in values:
        if value not in EXECUTION_STATUSES:
            raise InvalidQueryError(
                f"ExecutionStatus at column {node.column} is compared with {value!r}; "
                f"the statuses are {', '.join(EXECUTION_STATUSES)}"
            )


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def render(node: Condition | None) -> str:
    """A condition as query text again (Temporal's syntax), e.g. to combine it with
    others or send it to a server; empty for None."""
    if node is None:
        return ""
    if isinstance(node, And):
        return f"({render(node.left)}) AND ({render(node.right)})"
    if isinstance(node, Or):
        return f"({render(node.left)}) OR ({render(node.right)})"
    name = node.field if _SIMPLE_NAME.match(node.field) else f"`{node.field}`"
    if node.op in ("is null", "is not null"):
        return f"{name} {node.op.upper()}"
    if node.op in ("in", "not in"):
        values = ", ".join(_literal(v) for v in node.value)
        return f"{name} {node.op.upper()} ({values})"
    if node.op == "between":
        return f"{name} BETWEEN {_literal(node.value[0])} AND {_literal(node.value[1])}"
    if node.op == "starts_with":
        return f"{name} STARTS_WITH {_literal(node.value)}"
    return f"{name} {node.op} {_literal(node.value)}"


_SIMPLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
