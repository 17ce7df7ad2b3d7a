"""How the console's pages write values: moments, durations, JSON, states, event attributes.

Each function here is a filter or a global of the console's templates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from turnout.contracts.records import Run
from turnout.contracts.states import RunState

__all__ = ["Attributes", "ago", "attributes", "pretty", "seconds", "state_class", "took", "when"]

_TRACE_KEY = "stack_trace"
_MAX_DEPTH = 32


def when(value: datetime | None) -> str:
    """A moment in UTC to the second, or ``-``."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: datetime | None) -> str:
    """How long ago a moment was (``4.2 s ago``), or ``-``."""
    if value is None:
        return "-"
    return seconds(max(0.0, (datetime.now(UTC) - value).total_seconds())) + " ago"


def pretty(value: Any) -> str:
    """A value as indented JSON with its characters as they are (no ``\\u`` escapes)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def seconds(value: float) -> str:
    """A duration in the unit that reads best: ms, s, min or h."""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def took(run: Run) -> str:
    """How long the run has taken: from its start to its close, or to now while open."""
    if run.started_at is None:
        return "-"
    end = run.closed_at or datetime.now(UTC)
    return seconds(max(0.0, (end - run.started_at).total_seconds()))


def state_class(state: RunState | str) -> str:
    """The CSS class of a state's badge (``state-waiting-approval``, ...)."""
    value = state.value if isinstance(state, RunState) else str(state)
    return "state-" + value.replace("_", "-")


@dataclass(frozen=True)
class Attributes:
    """An event's attributes as the events table shows them."""

    json: str
    """The attributes as indented JSON, each stack trace replaced by where it is shown."""
    traces: list[tuple[str, str]]
    """``(where, stack trace)`` of each stack trace, where being its path in the attributes
    (``failure.cause``): shown as preformatted text, one line a line."""


def attributes(value: Any) -> Attributes:
    """An event's attributes with their stack traces taken out (see :class:`Attributes`)."""
    traces: list[tuple[str, str]] = []

    def walk(node: Any, path: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            return node
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, item in node.items():
                if key == _TRACE_KEY and isinstance(item, str) and item.strip():
                    where = path or "attributes"
                    traces.append((where, item.rstrip()))
                    out[key] = f"(shown below: stack trace of {where})"
                else:
                    out[key] = walk(item, f"{path}.{key}" if path else str(key), depth + 1)
            return out
        if isinstance(node, list):
            return [walk(item, f"{path}[{n}]", depth + 1) for n, item in enumerate(node)]
        return node

    return Attributes(json=pretty(walk(value, "", 0)), traces=traces)
