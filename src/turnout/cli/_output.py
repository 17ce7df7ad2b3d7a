"""What the commands print: the two consoles, JSON values, a run, a timeline.

Results go to ``out`` (stdout), messages about what happened to ``err`` (stderr), so
``turnout start ... --json | jq`` sees only the result. Tables keep a fixed width when
stdout is not a terminal, so they stay readable in pipes and logs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from turnout.contracts.errors import exception_from_failure
from turnout.contracts.events import Event
from turnout.contracts.records import Run
from turnout.contracts.states import RunState

__all__ = [
    "dump",
    "err",
    "failure_chain",
    "out",
    "print_events",
    "print_run",
    "timestamp",
    "wait_result",
]

_WIDTH = None if sys.stdout.isatty() else 160  # tables stay readable in pipes and logs
# No markup: a name or a message with brackets ("turnout[temporal]") prints as it is;
# colour comes from rich Text objects where it is meant.
out = Console(highlight=False, markup=False, soft_wrap=True, width=_WIDTH)
"""stdout: results."""
err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True, width=_WIDTH)
"""stderr: what happened, errors."""

_KEY_ATTRIBUTES = (
    "activity_type",
    "attempt",
    "name",
    "duration",
    "timer_seq",
    "workflow_type",
    "patch_id",
    "reason",
    "from",
    "to",
    "delay",
    "timeout",
)


def dump(value: Any) -> str:
    """``value`` as one line of JSON (non-JSON values as their ``str``)."""
    return json.dumps(value, default=str, ensure_ascii=False)


def timestamp(value: datetime | None) -> str:
    """A moment as every command prints it: ISO 8601 in UTC to the millisecond
    (``2026-12-06T16:14:38.768Z``), or nothing."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _root_cause(failure: dict[str, Any]) -> str:
    """``Type: message`` of a stored failure's innermost cause."""
    while isinstance(failure.get("cause"), dict):
        failure = failure["cause"]
    kind = failure.get("type") or failure.get("kind") or "error"
    return f"{kind}: {failure.get('message', '')}"


def failure_chain(exc: BaseException) -> str:
    """``Kind(message, type=...) <- Cause(...)``: an error and its causes on one line."""
    parts = []
    current: BaseException | None = exc
    while current is not None:
        kind = type(current).__name__
        detail = getattr(current, "message", None) or str(current)
        extra = getattr(current, "type", None)
        parts.append(f"{kind}({detail}{f', type={extra}' if extra else ''})")
        current = current.__cause__
    return " <- ".join(parts)


def print_run(run: Run) -> None:
    """The run's state, timestamps and outcome, one per line."""
    table = Table(show_header=False, box=None)
    for key in ("workflow_id", "run_id", "workflow_type", "task_queue", "state", "attempt",
                "correlation_id", "requested_at", "started_at", "closed_at"):  # fmt: skip
        value = getattr(run, key)
        if isinstance(value, datetime) or (value is None and key.endswith("_at")):
            table.add_row(key, timestamp(value))
        else:
            table.add_row(key, value.value if isinstance(value, RunState) else str(value))
    if run.result is not None:
        table.add_row("result", dump(run.result))
    if run.failure is not None:  # the whole cause chain: the root cause is what helps
        table.add_row("failure", failure_chain(exception_from_failure(run.failure)))
    for a in run.pending_activities:  # what an open run waits on, as Temporal's describe
        limit = f"/{a.maximum_attempts}" if a.maximum_attempts else " (no limit)"
        line = f"{a.activity_type} ({a.activity_id}) {a.state.value}, attempt {a.attempt}{limit}"
        if a.next_attempt_schedule_time is not None:
            line += f", next attempt {timestamp(a.next_attempt_schedule_time)}"
        if a.last_heartbeat_time is not None:
            line += f", last heartbeat {timestamp(a.last_heartbeat_time)}"
        if a.last_failure is not None:
            line += f"; last failure: {failure_chain(exception_from_failure(a.last_failure))}"
        table.add_row("pending activity", line)
    for c in run.pending_children:
        table.add_row("pending child", f"{c.workflow_type} {c.workflow_id} (run {c.run_id})")
    for s in run.pending_signals:
        table.add_row("pending signal", f"{s.name} (received {timestamp(s.received_at)})")
    for u in run.pending_updates:
        table.add_row("pending update", f"{u.name} ({u.update_id})")
    if run.stuck_reason is not None:
        table.add_row("stuck", run.stuck_reason)
    out.print(table)


def print_events(events: Sequence[Event]) -> None:
    """A timeline: time, seq, event type, its key attributes, time since the first event."""
    table = Table("time", "seq", "event", "attributes", "elapsed")
    start = events[0].at if events else None
    for event in events:
        attrs = {k: event.attributes[k] for k in _KEY_ATTRIBUTES if k in event.attributes}
        failure = event.attributes.get("failure")
        if isinstance(failure, dict):  # why it failed, down to the root cause
            attrs["failure"] = _root_cause(failure)
        elapsed = (event.at - start).total_seconds() if start else 0.0
        table.add_row(
            timestamp(event.at),
            str(event.seq),
            event.type.value,
            " ".join(f"{k}={v}" for k, v in attrs.items()),
            f"{elapsed:8.3f}s",
        )
    out.print(table)


async def wait_result(handle: Any, spinner: bool) -> Any:
    """The run's result; with a spinner on stdout while waiting when it is a terminal."""
    if spinner and out.is_terminal:
        with out.status(f"waiting for {handle.id}..."):
            return await handle.result()
    return await handle.result()
