"""Queue depth and lag of idle queues: series at 0 rather than no series at all.

The store reports ``turnout_queue_depth`` and ``turnout_queue_lag_seconds`` for the
queues that have ready items only. A queue that is idle would then have no series,
which an alert (``turnout_queue_lag_seconds > 60``) cannot tell from a queue that is
not measured; :func:`with_idle_queues` adds the zeros. It needs no extra, so both the
worker's ``/metrics`` and ``turnout metrics`` use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["QUEUE_KINDS", "ZeroFigure", "queues_named", "with_idle_queues"]

QUEUE_KINDS = ("workflow_task", "activity_task")
"""The kinds of ready items a worker claims: each has a depth series per queue."""

_DEPTH = ("turnout_queue_depth", "items ready to be claimed")
_LAG = ("turnout_queue_lag_seconds", "age of the oldest ready item")


@dataclass(frozen=True)
class ZeroFigure:
    """A figure at 0, shaped as the store's figures (name, value, help, labels)."""

    name: str
    help: str
    labels: dict[str, str] = field(default_factory=dict)
    value: float = 0


def queues_named(figures: Iterable[Any]) -> set[str]:
    """The task queues the figures name."""
    return {f.labels["task_queue"] for f in figures if "task_queue" in f.labels}


def with_idle_queues(figures: Iterable[Any], queues: Iterable[str]) -> list[Any]:
    """``figures`` with a depth of 0 for each kind and a lag of 0 added for every queue of
    ``queues`` (and every queue the figures name) that has none; in the store's order,
    the zeros after the series of their name."""
    found = list(figures)
    depth = {
        (f.labels.get("task_queue"), f.labels.get("kind")) for f in found if f.name == _DEPTH[0]
    }
    lag = {f.labels.get("task_queue") for f in found if f.name == _LAG[0]}
    names = sorted({*queues, *queues_named(found)})
    zeros = {
        _DEPTH[0]: [
            ZeroFigure(*_DEPTH, {"task_queue": queue, "kind": kind})
            for queue in names
            for kind in QUEUE_KINDS
            if (queue, kind) not in depth
        ],
        _LAG[0]: [ZeroFigure(*_LAG, {"task_queue": queue}) for queue in names if queue not in lag],
    }
    merged: list[Any] = []
    for name in [_DEPTH[0], _LAG[0]]:
        merged.extend(f for f in found if f.name == name)
        merged.extend(zeros[name])
    merged.extend(f for f in found if f.name not in zeros)
    return merged
