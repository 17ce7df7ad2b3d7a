"""Queue and run figures read from the tables, for one-off checks (``turnout metrics``).

Every figure is a :class:`Figure` named as the worker's metrics will be
(``turnout_`` prefix, Prometheus conventions) and scoped to one tenant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from turnout.contracts.governance import ApprovalState
from turnout.contracts.records import QueueItemState
from turnout.executors.internal.schema import approvals, queue_items, runs
from turnout.executors.internal.store.core import StoreCore
from turnout.executors.internal.store.sql import ACTIVE, LEASED, utcnow

__all__ = ["Figure", "FigureOperations", "QueueFigures", "per_queue"]


@dataclass(frozen=True)
class Figure:
    """One measured value: a metric name, its labels, the value, and what it means."""

    name: str
    value: float
    help: str
    labels: dict[str, str] = field(default_factory=dict)


class FigureOperations(StoreCore):
    """Read the figures of a tenant's queues and runs."""

    async def figures(self, tenant_id: str) -> list[Figure]:
        """Depth, lag, leases and dead letters per task queue; runs per state; pending
        approvals. Reads only; cheap on the partial indexes of the ready and leased sets."""
        now = utcnow()
        q = queue_items.c
        mine = q.tenant_id == tenant_id
        async with self.reader.connect() as conn:
            ready = (
                await conn.execute(
                    select(q.task_queue, q.kind, func.count(), func.min(q.available_at))
                    .where(mine, q.state == QueueItemState.QUEUED.value, q.available_at <= now)
                    .group_by(q.task_queue, q.kind)
                )
            ).all()
            leased = (
                await conn.execute(
                    select(q.task_queue, q.kind, func.count())
                    .where(mine, q.state.in_(LEASED))
                    .group_by(q.task_queue, q.kind)
                )
            ).all()
            dead = (
                await conn.execute(
                    select(q.task_queue, func.count())
                    .where(mine, q.state == QueueItemState.DEAD.value)
                    .group_by(q.task_queue)
                )
            ).all()
            states = (
                await conn.execute(
                    select(runs.c.state, func.count())
                    .where(runs.c.tenant_id == tenant_id)
                    .group_by(runs.c.state)
                )
            ).all()
            pending = (
                await conn.execute(
                    select(func.count())
                    .select_from(approvals)
                    .join(runs, runs.c.run_id == approvals.c.run_id)
                    .where(
                        approvals.c.tenant_id == tenant_id,
                        approvals.c.state == ApprovalState.PENDING.value,
                        runs.c.state.in_(ACTIVE),
                    )
                )
            ).scalar_one()
        figures: list[Figure] = []
        oldest: dict[str, datetime] = {}
        for task_queue, kind, count, earliest in ready:
            figures.append(
                Figure(
                    "turnout_queue_depth",
                    count,
                    "items ready to be claimed",
                    {"task_queue": task_queue, "kind": kind},
                )
            )
            if earliest is not None:
                oldest[task_queue] = min(oldest.get(task_queue, earliest), earliest)
        for task_queue, earliest in sorted(oldest.items()):
            figures.append(
                Figure(
                    "turnout_queue_lag_seconds",
                    round(max(0.0, (now - earliest).total_seconds()), 3),
                    "age of the oldest ready item",
                    {"task_queue": task_queue},
                )
            )
        for task_queue, kind, count in leased:
            figures.append(
                Figure(
                    "turnout_leased_items",
                    count,
                    "items claimed by a worker",
                    {"task_queue": task_queue, "kind": kind},
                )
            )
        for task_queue, count in dead:
            figures.append(
                Figure(
                    "turnout_dead_letters",
                    count,
                    "dead queue items: activities whose retries ran out or that timed "
                    "out for good, workflow tasks dead-lettered after deadlocks, quarantined items",
                    {"task_queue": task_queue},
                )
            )
        for state, count in states:
            figures.append(Figure("turnout_runs", count, "runs per state", {"state": state}))
        figures.append(
            Figure("turnout_pending_approvals", pending, "approvals waiting on a decision")
        )
        return figures


@dataclass
class QueueFigures:
    """One task queue's figures, folded from the :class:`Figure` list (see
    :func:`per_queue`)."""

    task_queue: str
    depth: int = 0
    """Items ready to be claimed, of every kind."""
    depth_by_kind: dict[str, int] = field(default_factory=dict)
    lag_seconds: float = 0.0
    """Age of the oldest ready item (0 when none is ready)."""
    leased: int = 0
    dead_letters: int = 0


def per_queue(figures: Iterable[Figure]) -> list[QueueFigures]:
    """The figures that name a task queue, one row per queue, sorted by name."""
    rows: dict[str, QueueFigures] = {}
    for f in figures:
        name = f.labels.get("task_queue")
        if name is None:
            continue
        row = rows.setdefault(name, QueueFigures(name))
        if f.name == "turnout_queue_depth":
            row.depth += int(f.value)
            kind = f.labels.get("kind", "")
            row.depth_by_kind[kind] = row.depth_by_kind.get(kind, 0) + int(f.value)
        elif f.name == "turnout_queue_lag_seconds":
            row.lag_seconds = float(f.value)
        elif f.name == "turnout_leased_items":
            row.leased += int(f.value)
        elif f.name == "turnout_dead_letters":
            row.dead_letters += int(f.value)
    return [rows[name] for name in sorted(rows)]
