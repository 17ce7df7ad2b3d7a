"""What the HTTP server (API and console) accepts in a request's path, query and body.

Checked here, at the edge, before anything reaches an executor's client, so that a bad
value is answered as the caller's mistake (4xx, with a one-line message naming it) and
never as the server's (500 with a traceback):

- a **name** in a path or a query filter (workflow id, workflow type, task queue, signal,
  query or approval name, cursor) is 1-255 characters without control characters
  (U+0000-U+001F, U+007F): no run can have any other, and PostgreSQL cannot store NUL;
- a **JSON body** (or the ``args`` of a query) nests lists and objects at most
  :data:`MAX_BODY_DEPTH` levels deep, and its strings hold neither NUL nor lone surrogates
  (what PostgreSQL cannot store), so no request can exhaust the parser's stack.
"""

from __future__ import annotations

import json
import re
from typing import Any

from turnout.contracts.limits import MAX_JSON_DEPTH, MAX_NAME_LENGTH
from turnout.http.errors import ApiError

__all__ = [
    "MAX_BODY_DEPTH",
    "MAX_NAME",
    "check_json_value",
    "name_problem",
    "parse_json_body",
    "parse_json_param",
    "refuse_unstorable",
]

MAX_NAME = MAX_NAME_LENGTH
"""The longest name (a workflow id, type, task queue, ...): the schema's column width."""

MAX_BODY_DEPTH = MAX_JSON_DEPTH + 2
"""The deepest nesting of lists and objects in a request body: a payload's
:data:`~turnout.contracts.limits.MAX_JSON_DEPTH` levels, plus the body's object and its
``args`` list (the client checks the payload itself)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def name_problem(value: str, what: str) -> str | None:
    """Why ``value`` cannot be a name (``what`` names it in the message), or None."""
    if not value:
        return f"{what} is empty; give 1-{MAX_NAME} printable characters"
    if len(value) > MAX_NAME:
        return f"{what} has {len(value):,} characters; a name has at most {MAX_NAME}"
    if _CONTROL.search(value):
        return (
            f"{what} contains a control character (U+0000-U+001F or U+007F, NUL included); "
            "a name is printable text"
        )
    return None


class _Problem(Exception):
    """A JSON value the database cannot take (the message says why)."""


def check_json_value(
    value: Any, max_depth: int = MAX_BODY_DEPTH, *, strings: bool = True
) -> str | None:
    """Why a parsed JSON ``value`` cannot be accepted, or None.

    Refused: nesting deeper than ``max_depth`` lists and objects; with ``strings``, a
    string (or an object's key) holding NUL or a lone surrogate.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str) and strings:
            if "\x00" in item:
                return (
                    "a string contains the NUL character (\\u0000), which the database cannot "
                    "store; remove it or encode the data (e.g. base64)"
                )
            try:
                item.encode()
            except UnicodeEncodeError:
                return "a string contains a lone surrogate (\\ud800-\\udfff); send valid Unicode"
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                return f"lists and objects are nested more than {max_depth} levels deep; flatten it"
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(raw: str | bytes, max_depth: int, *, strings: bool = True) -> Any:
    """The JSON value of ``raw``; ValueError or :class:`_Problem` when it cannot be taken."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:  # deeper than the interpreter's stack: far over any limit
        raise _Problem(
            f"lists and objects are nested more than {max_depth} levels deep; flatten it"
        ) from None
    problem = check_json_value(value, max_depth, strings=strings)
    if problem is not None:
        raise _Problem(problem)
    return value


def parse_json_body(raw: bytes) -> Any:
    """A request body's JSON value; ``400 invalid_json`` (:class:`ApiError`) for a body
    that is not JSON or nests deeper than :data:`MAX_BODY_DEPTH` (its strings are checked
    by :func:`refuse_unstorable`, once the body fits its schema)."""
    try:
        return _loads(raw, MAX_BODY_DEPTH, strings=False)
    except _Problem as exc:
        raise ApiError(400, "invalid_json", f"the request body is refused: {exc}") from None
    except ValueError as exc:
        raise ApiError(
            400,
            "invalid_json",
            f"the request body is not valid JSON ({exc}); send a JSON object with "
            "Content-Type: application/json",
        ) from None


def refuse_unstorable(value: Any) -> None:
    """``422 invalid_input`` (:class:`ApiError`) when a string of a JSON ``value`` holds NUL
    or a lone surrogate, which the database cannot store."""
    problem = check_json_value(value, max_depth=1_000_000)
    if problem is not None:
        raise ApiError(422, "invalid_input", f"the request body is refused: {problem}")


def parse_json_param(raw: str, name: str, expected: str) -> Any:
    """A query parameter holding JSON (``expected`` says what it should be, for the
    message); ``422 invalid_parameter`` when it is not JSON or cannot be taken."""
    try:
        return _loads(raw, MAX_BODY_DEPTH)
    except _Problem as exc:
        raise ApiError(422, "invalid_parameter", f"{name} is refused: {exc}") from None
    except ValueError:
        raise ApiError(
            422, "invalid_parameter", f"{name} must be {expected}; it is not valid JSON"
        ) from None
