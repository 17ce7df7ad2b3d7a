"""The claim's statements, built once (see ``prepared.py``): what a polling worker runs
many times a second.

Each takes its values as named parameters (``params_for`` gathers the common ones):
``in_queue``, ``now``, ``tenant`` (only in the ``by_tenant`` shapes), ``only`` (one item,
in the ``only`` shapes), ``limit_<kind>``, and for a lease ``owner`` and ``until``
(claims of workflow tasks: also ``sticky_before``).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import and_, any_, bindparam, exists, func, or_, select, union_all, update

from turnout.contracts.records import QueueItemState
from turnout.contracts.states import RunState
from turnout.executors.internal.schema import queue_items, runs
from turnout.executors.internal.store.prepared import Prepared, among, const
from turnout.executors.internal.store.sql import INFO_COLUMNS, LEASED, WFT

__all__ = [
    "FRESH",
    "claim_and_start_statement",
    "claim_statement",
    "eager_statement",
    "fire_statement",
    "next_due_statement",
    "params_for",
    "ready_statement",
]

# Aliases are built once: each builds its column collection (a proxy per column).
_Q = queue_items.alias("q")
_BUSY = queue_items.alias("busy")
_QUEUED = const(QueueItemState.QUEUED.value)
_WFT = const(WFT)
_QUEUED_RUN = const(RunState.QUEUED.value)


def params_for(task_queue: str, now: datetime, tenant_id: str | None) -> dict[str, Any]:
    """The parameters every shape below takes (``tenant`` only when given)."""
    params: dict[str, Any] = {"in_queue": task_queue, "now": now}
    if tenant_id is not None:
        params["tenant"] = tenant_id
    return params


def _at(name: str) -> Any:
    return bindparam(name, type_=queue_items.c.available_at.type)


def _picked(kind: str, by_tenant: bool, only: bool) -> Any:
    """The ready rows of ``kind`` to claim, in claim order, as a CTE evaluated exactly
    once: ``IN (SELECT ... LIMIT n)`` may run its subquery again under some PostgreSQL
    plans and claim more than n. Rows other claims hold are skipped (PostgreSQL)."""
    q = _Q
    stmt = select(q.c.id).where(
        q.c.state == _QUEUED,
        q.c.task_queue == bindparam("in_queue"),
        q.c.kind == const(kind),
        q.c.available_at <= _at("now"),
    )
    if by_tenant:
        stmt = stmt.where(q.c.tenant_id == bindparam("tenant"))
    if only:
        stmt = stmt.where(q.c.id == bindparam("only"))
    if kind == WFT:
        stmt = stmt.where(_sticky_to_owner(q), _no_task_running(q))
    stmt = stmt.order_by(q.c.priority.desc(), q.c.available_at, q.c.id)
    stmt = stmt.limit(bindparam(f"limit_{kind}")).with_for_update(skip_locked=True)
    return stmt.cte(f"picked_{kind}").prefix_with("MATERIALIZED")


def _sticky_to_owner(q: Any) -> Any:
    """SQL condition: ``:owner`` may take this workflow task. It is offered first to the
    worker holding the run cached, to others once it has been ready for
    ``STICKY_SECONDS`` (before ``:sticky_before``)."""
    return or_(
        q.c.sticky_worker.is_(None),
        q.c.sticky_worker == bindparam("owner"),
        q.c.available_at <= _at("sticky_before"),
    )


def _no_task_running(q: Any) -> Any:
    """SQL condition: no workflow task of ``q``'s run is leased (one task per run at once)."""
    busy = _BUSY
    leased = busy.c.state.in_([const(s) for s in LEASED])
    return ~exists().where(busy.c.run_id == q.c.run_id, busy.c.kind == _WFT, leased)


def _picked_ids(dialect: str, picked: Any) -> Any:
    """SQL condition: the item is one of ``picked`` (a CTE of ids).

    On PostgreSQL the ids are gathered into an array first, so the items are found by
    primary key whatever the planner believes of the table's size: a join to the CTE
    could be planned as a scan of every ready item (statistics lag a queue's churn).
    """
    ids = select(picked.c.id)
    if dialect == "postgresql":
        return queue_items.c.id == any_(func.array(ids.scalar_subquery()))
    return queue_items.c.id.in_(ids)


def _lease(dialect: str, picked: Any) -> Any:
    """Lease the items of ``picked`` (a CTE of queued ids it holds locked) to ``:owner``
    until ``:until``; returns the leased rows.

    No second look at their state: each CTE locks the rows it picks (``FOR UPDATE SKIP
    LOCKED``, which checks a row's newest version again once locked), so they are still
    queued. Without the look, PostgreSQL finds them by primary key only.
    """
    return (
        update(queue_items)
        .where(_picked_ids(dialect, picked))
        .values(
            state=QueueItemState.RUNNING.value,
            lease_owner=bindparam("owner"),
            lease_expires_at=_at("until"),
            started_at=_at("now"),
            updated_at=_at("now"),
        )
        .returning(*queue_items.c)
    )


@functools.cache
def claim_statement(kinds: tuple[str, ...], by_tenant: bool, only: bool) -> Prepared:
    """Claim up to ``:limit_<kind>`` ready items of each of ``kinds`` in one statement:
    each kind picked by its own CTE, leased together."""

    return Prepared(lambda dialect: _claim(dialect, kinds, by_tenant, only), replan=True)


def _claim(dialect: str, kinds: tuple[str, ...], by_tenant: bool, only: bool) -> Any:
    picks = [_picked(kind, by_tenant, only) for kind in kinds]
    picked = picks[0]
    if len(picks) > 1:
        picked = union_all(*(select(c.c.id) for c in picks)).cte("picked")
    return _lease(dialect, picked)


FRESH = "fresh_"
"""The prefix of the run columns :func:`claim_and_start_statement` adds to each row."""


@functools.cache
def claim_and_start_statement(kinds: tuple[str, ...], by_tenant: bool, only: bool) -> Prepared:
    """PostgreSQL: :func:`claim_statement`, and in the same statement the runs of the
    claimed workflow tasks that were still queued become claimed (started now, unless
    they started before), their next seq one more for the ``state_changed`` event the
    caller appends. Each leased row comes with the run's new next seq and its
    :class:`RunInfo` columns, prefixed :data:`FRESH` (NULL: the run was not queued)."""

    def build(dialect: str) -> Any:
        leased = _claim(dialect, kinds, by_tenant, only).cte("leased")
        tasks = select(leased.c.run_id).where(leased.c.kind == _WFT).scalar_subquery()
        now = _at("now")
        started = (
            update(runs)
            .where(runs.c.run_id == any_(func.array(tasks)), runs.c.state == _QUEUED_RUN)
            .values(
                state=RunState.CLAIMED.value,
                started_at=func.coalesce(runs.c.started_at, now),
                next_seq=runs.c.next_seq + 1,
                updated_at=now,
            )
            .returning(runs.c.next_seq, *INFO_COLUMNS)
            .cte("started")
        )
        joined = leased.outerjoin(
            started, and_(started.c.run_id == leased.c.run_id, leased.c.kind == _WFT)
        )
        fresh = [c.label(FRESH + c.name) for c in started.c]
        return select(leased, *fresh).select_from(joined)

    return Prepared(build, replan=True)


@functools.cache
def eager_statement() -> Prepared:
    """Lease, for ``:owner``, up to ``:limit`` queued workflow tasks of the runs ``:runs``
    of ``:in_queue`` whose workflow type is one of ``:names`` (eager dispatch), those
    another worker holds cached excepted (until ``:sticky_before``, as a claim)."""

    def build(dialect: str) -> Any:
        q = _Q
        # The runs' queued workflow tasks, found by run id, locked; then those of this
        # queue and these types, up to the limit. The state is compared as an expression
        # no partial index of queued items answers: without statistics, PostgreSQL took
        # the ready index (every queued task of every queue) for a handful of rows.
        of_runs = (
            select(
                q.c.id, q.c.run_id, q.c.task_queue, q.c.name, q.c.available_at, q.c.sticky_worker
            )
            .where(
                among(dialect, q.c.run_id, "runs"),
                q.c.kind == _WFT,
                (q.c.state + "") == _QUEUED,
            )
            .with_for_update(skip_locked=True)
            .cte("of_runs")
            .prefix_with("MATERIALIZED")
        )
        picked = (
            select(of_runs.c.id)
            .where(
                of_runs.c.task_queue == bindparam("in_queue"),
                among(dialect, of_runs.c.name, "names"),
                of_runs.c.available_at <= _at("now"),
                _sticky_to_owner(of_runs),
                _no_task_running(of_runs),
            )
            .order_by(of_runs.c.id)
            .limit(bindparam("limit"))
            .cte("eager")
            .prefix_with("MATERIALIZED")
        )
        return _lease(dialect, picked)

    return Prepared(build, replan=True)


@functools.cache
def fire_statement(kind: str, by_tenant: bool, only: bool) -> Prepared:
    """Mark up to ``:limit_<kind>`` due items of ``kind`` (timers) completed; returns
    what each one fires, and when it was due (rows come back in no set order)."""

    def build(dialect: str) -> Any:
        picked = _picked(kind, by_tenant, only)
        return (
            update(queue_items)
            .where(_picked_ids(dialect, picked))  # still queued: see _lease
            .values(state=QueueItemState.COMPLETED.value, updated_at=_at("now"))
            .returning(
                queue_items.c.run_id,
                queue_items.c.ref,
                queue_items.c.name,
                queue_items.c.payload,
                queue_items.c.available_at,
                queue_items.c.id,
            )
        )

    return Prepared(build, replan=True)


@functools.cache
def ready_statement(by_tenant: bool) -> Prepared:
    """An id of an item of one of ``:kinds`` ready at ``:now``: anything to claim?"""

    def build(dialect: str) -> Any:
        q = queue_items
        stmt = select(q.c.id).where(
            q.c.state == _QUEUED,
            q.c.task_queue == bindparam("in_queue"),
            among(dialect, q.c.kind, "kinds"),
            q.c.available_at <= _at("now"),
        )
        if by_tenant:
            stmt = stmt.where(q.c.tenant_id == bindparam("tenant"))
        return stmt.limit(1)

    return Prepared(build)


@functools.cache
def next_due_statement(by_tenant: bool) -> Prepared:
    """When the earliest queued item of ``:in_queue`` becomes ready (NULL: none)."""

    def build(_: str) -> Any:
        q = queue_items
        stmt = select(func.min(q.c.available_at)).where(
            q.c.state == _QUEUED, q.c.task_queue == bindparam("in_queue")
        )
        return stmt.where(q.c.tenant_id == bindparam("tenant")) if by_tenant else stmt

    return Prepared(build)
