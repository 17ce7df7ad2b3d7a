"""The limits every value entering turnout is checked against, and the checks.

One set of validators for every boundary: the Python API (clients, workflow
options, RetryPolicy), the command line and the HTTP API. Each refusal is an
:class:`InvalidInputError` (a ``ValueError``) whose one-line message names the
value, the problem and the fix. Nothing is stored before the checks pass, and
both executors refuse the same input the same way.

What is refused, and why:

- **durations** (timeouts, intervals, timers) that are not finite, not positive
  (where zero would mean "unset"), or longer than :data:`MAX_DURATION`: every
  deadline is ``now + duration``, and a date past year 9999 cannot be computed
  in Python nor stored in the database;
- **floats** that are NaN or infinite;
- **names** (workflow ids and types, activity types and ids, signal and query
  names, task queues, approval names) that are empty, longer than
  :data:`MAX_NAME_LENGTH` (the width of the schema's columns), or hold control
  characters (U+0000-U+001F, U+007F) or lone surrogates;
- **free text** (reasons) holding NUL or lone surrogates: PostgreSQL stores
  neither, SQLite would store NUL; refused on both so that both behave alike.
  Tabs, newlines and carriage returns stay allowed;
- **JSON payloads** (start input, signal and activity arguments, results,
  approval details) holding NaN or infinity, a string or key with NUL or a lone
  surrogate (PostgreSQL's ``jsonb`` refuses ``\\u0000``), or nested deeper than
  :data:`MAX_JSON_DEPTH`.
"""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from turnout.contracts.errors import TurnoutError

__all__ = [
    "MAX_DURATION",
    "MAX_JSON_DEPTH",
    "MAX_NAME_LENGTH",
    "MAX_TASK_TIMEOUT",
    "InvalidInputError",
    "check_duration",
    "check_finite",
    "check_listing_filters",
    "check_name",
    "check_optional_duration",
    "check_payload",
    "check_task_timeout",
    "check_text",
    "check_timer",
    "one_line",
    "parse_json",
]

MAX_DURATION = timedelta(days=36_525)
"""The longest duration accepted anywhere: 100 years (36,525 days).

Deadlines are ``now + duration`` on timestamps that must stay before year 9999
(Python's ``datetime``); 100 years keeps every sum (a timeout plus a retry
backoff plus a timer) far inside. Temporal's own duration type holds up to
10,000 years, so anything accepted here is also accepted by Temporal."""

MAX_NAME_LENGTH = 255
"""The longest name: the width of the schema's name columns (``String(255)``)."""

MAX_JSON_DEPTH = 64
"""The deepest nesting of lists and objects in one JSON payload."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A JSON text's ``\u0000`` escape, not preceded by an escaped backslash.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_NUL_MESSAGE = (
    "holds a string with a NUL character (\\u0000), which the database cannot store; "
    "remove it (or encode binary data, e.g. as base64)"
)
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


class InvalidInputError(TurnoutError, ValueError):
    """A value given to turnout cannot be accepted; the message says which, why, and the fix.

    Raised before anything is stored. A ``ValueError``, so ``except ValueError`` catches it.
    """


def one_line(exc: ValidationError) -> str:
    """A pydantic ValidationError as one line: the model, then each field and its problem;
    an unknown field (a typo) is named with the fields the model has."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"])
        if error["type"] == "extra_forbidden":
            message = f"unknown field{_fields_of(exc.title)}"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(message if not where or message.startswith(where) else f"{where}: {message}")
    return f"{exc.title}: {'; '.join(parts)}".replace("\n", " ")


def _fields_of(title: str) -> str:
    from turnout.contracts.retry import RetryPolicy  # the models that forbid unknown fields

    known = {"RetryPolicy": RetryPolicy}.get(title)
    return f"; the fields are {', '.join(known.model_fields)}" if known is not None else ""


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise InvalidInputError(
        f"{what} must be a timedelta (or seconds as a number), got {type(value).__name__}"
    )


_NO_LIMIT = "leave it unset (None) for no limit"


def check_duration(
    value: Any, what: str, *, allow_zero: bool = False, unset: str = _NO_LIMIT
) -> timedelta:
    """``value`` (a timedelta, or seconds) as a timedelta if it is a usable duration.

    It must be finite, positive (zero too with ``allow_zero``) and at most
    :data:`MAX_DURATION`; otherwise an :class:`InvalidInputError` naming ``what``,
    whose fix ends with ``unset`` (what leaving the value out means).
    """
    seconds = _seconds(value, what)
    if not math.isfinite(seconds):
        raise InvalidInputError(f"{what} is {seconds}; give a finite duration")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        least = "zero or more" if allow_zero else "positive"
        raise InvalidInputError(f"{what} is {seconds:g} seconds, it must be {least}; {unset}")
    if seconds > MAX_DURATION.total_seconds():
        raise InvalidInputError(
            f"{what} is {seconds:g} seconds, over the {MAX_DURATION.days:,}-day maximum "
            f"(100 years); give a shorter duration, or {unset}"
        )
    return value if isinstance(value, timedelta) else timedelta(seconds=seconds)


def check_optional_duration(value: Any, what: str) -> timedelta | None:
    """None for None, else :func:`check_duration`."""
    return None if value is None else check_duration(value, what)


MAX_TASK_TIMEOUT = timedelta(seconds=120)
"""The longest workflow task timeout: Temporal's server shortens a longer one to this."""


def check_task_timeout(value: Any) -> timedelta | None:
    """A run's ``task_timeout``: None for None; one over :data:`MAX_TASK_TIMEOUT` is
    shortened to it, as Temporal's server does."""
    checked = check_optional_duration(value, "task_timeout")
    return None if checked is None else min(checked, MAX_TASK_TIMEOUT)


def check_timer(seconds: float, what: str) -> float:
    """``seconds`` if a workflow may wait that long (zero or less: no wait at all).

    NaN, infinities and waits over :data:`MAX_DURATION` are refused.
    """
    value = _seconds(seconds, what)
    if not math.isfinite(value):
        raise InvalidInputError(f"{what} is {value}; give a finite duration")
    if value > MAX_DURATION.total_seconds():
        raise InvalidInputError(
            f"{what} is {value:g} seconds, over the {MAX_DURATION.days:,}-day maximum "
            "(100 years); wait less, or wait for a signal"
        )
    return value


def check_finite(value: float, what: str) -> float:
    """``value`` if it is a finite number; NaN and infinities are refused."""
    if not math.isfinite(value):
        raise InvalidInputError(f"{what} is {value}; give a finite number")
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_name(value: Any, what: str, *, example: str = "orders") -> str:
    """``value`` if usable as a name: 1-255 characters, no control character.

    ``what`` names the value in the error (``"a workflow id"``, ``"the task queue"``).
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{what} must be a non-empty string, e.g. {example!r}")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInputError(
            f"{what} has at most {MAX_NAME_LENGTH} characters, got {len(value)}; use a shorter one"
        )
    if _CONTROL.search(value) or not _encodable(value):
        raise InvalidInputError(
            f"{what} {_clip(value)!r} contains control characters or lone surrogates; "
            "use printable text"
        )
    return value


def check_text(value: Any, what: str, *, max_length: int | None = None) -> str:
    """``value`` if storable as free text: no NUL, no lone surrogate (tabs, newlines allowed)."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, got {type(value).__name__}")
    if "\x00" in value or not _encodable(value):
        raise InvalidInputError(
            f"{what} contains a NUL character or a lone surrogate, which the database cannot "
            "store; remove it (or encode binary data, e.g. as base64)"
        )
    if max_length is not None and len(value) > max_length:
        raise InvalidInputError(f"{what} has at most {max_length} characters, got {len(value)}")
    return value


def check_listing_filters(
    workflow_type: str | None, task_queue: str | None, limit: int | None, page_size: int
) -> None:
    """Refuse a listing's filter no stored name can match, or a bound that is not a
    positive count."""
    if workflow_type:
        check_name(workflow_type, "the workflow type filter", example="Checkout")
    if task_queue:
        check_name(task_queue, "the task queue filter")
    for value, what in ((limit, "limit"), (page_size, "page_size")):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InvalidInputError(f"{what} must be a positive int, got {value!r}")


def _clip(value: str) -> str:
    return value if len(value) <= 40 else value[:40] + "..."


def _too_deep(what: str) -> InvalidInputError:
    return InvalidInputError(
        f"{what} is nested deeper than {MAX_JSON_DEPTH} levels of lists and objects; flatten it"
    )


def _text_depth(text: str) -> int:
    """The deepest nesting of brackets in a JSON text (strings left out)."""
    depth = deepest = 0
    for char in _JSON_STRING.sub("", text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _check_json_text(text: str, what: str) -> None:
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _text_depth(text) > MAX_JSON_DEPTH:
        raise _too_deep(what)
    if "\\u0000" in text and _JSON_NUL.search(text):
        raise InvalidInputError(f"{what} {_NUL_MESSAGE}")


def check_payload(value: Any, what: str) -> str | None:
    """Refuse a JSON-compatible ``value`` the database cannot store; return its JSON text.

    Refused: NaN and infinities, strings or keys holding NUL or lone surrogates,
    nesting deeper than :data:`MAX_JSON_DEPTH`. Returns the compact JSON text
    (``None`` for a string, number, bool or None: those are measured without it).
    """
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(
                f"{what} is {value}, which JSON cannot carry; use None or a string"
            )
        return None
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInputError(f"{what} {_NUL_MESSAGE}")
        if not _encodable(value):
            raise InvalidInputError(f"{what} holds a lone surrogate; use valid Unicode text")
        return None
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except RecursionError:
        raise _too_deep(what) from None
    except ValueError:
        raise InvalidInputError(
            f"{what} holds NaN or infinity, which JSON cannot carry; use None or a string"
        ) from None
    _check_json_text(text, what)
    if not _encodable(text):
        raise InvalidInputError(f"{what} holds a lone surrogate; use valid Unicode text")
    return text


def _refuse_constant(name: str) -> Any:
    raise InvalidInputError(f"{name} is not JSON; use null or a string")


def parse_json(text: str, what: str) -> Any:
    """The value of the JSON ``text``, checked as :func:`check_payload` does.

    Deep nesting is refused before parsing, so no input can exhaust the stack.
    """
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _text_depth(text) > MAX_JSON_DEPTH:
        raise _too_deep(what)
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{what}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{what} {_clip(text)!r} is not JSON ({exc.msg}); quote strings, e.g. '\"text\"'"
        ) from None
    except RecursionError:
        raise _too_deep(what) from None
    check_payload(value, what)
    return value
