"""SQL helpers shared by the store's operations: the state sets of guarded writes, the
lease guard, padded ``IN`` lists, grouped ``CASE`` values, and the column lists the
typed records are read from."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, case, literal, select, update

from turnout.contracts.records import QueueItemKind, QueueItemState
from turnout.contracts.states import ACTIVE_STATES, TERMINAL_STATES
from turnout.executors.internal.schema import OPEN_RUN, queue_items, runs
from turnout.executors.internal.store.activity_task import ActivityTask
from turnout.executors.internal.store.prepared import Prepared, among
from turnout.executors.internal.store.records import (
    ClaimedItem,
    RunInfo,
    RunSnapshot,
)

__all__ = [
    "ACT",
    "ACTIVE",
    "APPROVAL_TIMER",
    "INFO_COLUMNS",
    "LEASED",
    "RUN_COLUMNS",
    "TERMINAL",
    "TIMER",
    "WFT",
    "Among",
    "activity_lease",
    "grouped_case",
    "held",
    "no_item",
    "no_run",
    "padded",
    "run_deadline",
    "use_clock",
    "utcnow",
]

T = TypeVar("T")

ACTIVE = [s.value for s in ACTIVE_STATES]
"""Run states of an open run."""
TERMINAL = [s.value for s in TERMINAL_STATES]
"""Run states of a closed run."""
STICKY_SECONDS = 5.0
"""How long a queued workflow task waits for the worker that holds its run cached before
any worker may claim it (Temporal's sticky schedule-to-start timeout)."""
LEASED = [QueueItemState.CLAIMED.value, QueueItemState.RUNNING.value]
"""Queue item states under a lease."""
WFT = QueueItemKind.WORKFLOW_TASK.value
ACT = QueueItemKind.ACTIVITY_TASK.value
TIMER = QueueItemKind.TIMER.value
APPROVAL_TIMER = "approval:"
"""``ref`` prefix of the timer item that times an approval out."""

INFO_COLUMNS = [runs.c[name] for name in RunInfo.__dataclass_fields__]
"""The columns a :class:`RunInfo` is made of, in its field order."""
RUN_COLUMNS = [runs.c[name] for name in RunSnapshot._fields]
"""The columns a :class:`RunSnapshot` is made of, in its field order."""
RUNS_BY_ID = Prepared(lambda d: select(*RUN_COLUMNS).where(among(d, runs.c.run_id, "ids")))
"""The :data:`RUN_COLUMNS` of the runs ``:ids``."""
OPEN_RUN_BUMP = Prepared(
    lambda _: (
        update(runs)
        .where(
            runs.c.tenant_id == bindparam("tenant_id"),
            runs.c.workflow_id == bindparam("workflow_id"),
            OPEN_RUN,  # as the unique index of open runs says it: that index finds the run
        )
        .values(
            next_seq=runs.c.next_seq + 1, updated_at=bindparam("now", type_=runs.c.updated_at.type)
        )
        .returning(runs.c.next_seq, *INFO_COLUMNS)
    )
)
"""Take one seq of the open run of ``:workflow_id`` in ``:tenant_id`` (at ``:now``): the
new next seq and the :class:`RunInfo` columns, or no row when it has none open."""


_CLOCK: ContextVar[Callable[[], datetime] | None] = ContextVar("turnout_clock", default=None)
"""A clock replacing the machine's in this context (a time-skipping test environment)."""


def utcnow() -> datetime:
    """The current time, aware, UTC: the machine's, or the clock :func:`use_clock` set."""
    clock = _CLOCK.get()
    return datetime.now(UTC) if clock is None else clock()


def use_clock(clock: Callable[[], datetime] | None) -> None:
    """Make ``clock`` the time of the store and the workers in this context and in the
    tasks it starts from now on (None: the machine's clock again)."""
    _CLOCK.set(clock)


def held(
    item: ClaimedItem, *, states: Sequence[str] = (QueueItemState.RUNNING.value,)
) -> list[Any]:
    """SQL conditions: ``item`` is still in ``states`` under this worker's lease and attempt.

    Every write a worker makes about an item it claimed carries these, so a straggler
    whose lease was lost (and whose work was taken over) changes nothing.
    """
    return [
        queue_items.c.id == item.id,
        queue_items.c.state.in_(list(states)),
        queue_items.c.lease_owner == item.lease_owner,
        queue_items.c.attempt == item.attempt,
    ]


def padded(values: Sequence[T], filler: Callable[[int], T]) -> list[T]:
    """``values`` made up to the next power of two with ``filler(i)`` values that match
    nothing. A batched statement then comes in a few shapes, whose compiled forms
    SQLAlchemy and the driver cache and reuse, instead of one shape per batch size, each
    compiled anew and each kept in those caches."""
    size = 1 << (len(values) - 1).bit_length() if values else 0
    return [*values, *(filler(i) for i in range(len(values), size))]


Among = Callable[[Any, Sequence[Any], Callable[[int], Any]], Any]
"""The store's ``_among`` hook: SQL ``column IN values`` in the dialect's form."""


def grouped_case(
    key: Any,
    values: Mapping[Any, Any],
    else_: Any,
    *,
    among: Among,
    type_: Any = None,
    filler: Callable[[int], Any] = lambda i: f"-{i}",
) -> Any:
    """SQL ``CASE``: the value ``values`` holds for the row's ``key`` column, else
    ``else_``. One ``WHEN key IN (...)`` per distinct value (``among`` writes the
    ``IN``): the statement grows with the distinct values, not with the rows (a batch's
    runs mostly share them)."""
    groups: dict[Any, tuple[Any, list[Any]]] = {}
    for k, value in values.items():
        # 1 and True are equal dict keys: tell values apart by type too.
        group = (
            json.dumps(value, sort_keys=True, default=str)
            if isinstance(value, dict | list)
            else (type(value), value)
        )
        groups.setdefault(group, (value, []))[1].append(k)
    return case(
        *(
            (among(key, keys, filler), value if type_ is None else literal(value, type_))
            for value, keys in groups.values()
        ),
        else_=else_,
    )


def no_run(i: int) -> str:
    """A run id that matches no run (run ids are UUIDs), for :func:`padded`."""
    return f"-{i}"


def no_item(i: int) -> int:
    """A queue item id that matches no item (ids are positive), for :func:`padded`."""
    return -1 - i


def activity_lease(task: ActivityTask, deadline: datetime | None, now: datetime) -> datetime:
    """When an activity attempt started ``now`` times out: its start-to-close or heartbeat
    timeout, or its schedule-to-close deadline, whichever comes first."""
    spans = (
        _lease_span(lambda: task.start_to_close_timeout),
        _lease_span(lambda: task.heartbeat_timeout),
    )
    bounds = [now + span for span in spans if span is not None]
    if deadline is not None:
        bounds.append(deadline)
    return min(bounds) if bounds else now + _LONGEST_LEASE


_LONGEST_LEASE = timedelta(days=3650)
"""The lease of an attempt with no timeout, and the longest any attempt takes: a stored
timeout beyond what a date can hold (written before values were checked) never makes
the claims of its whole queue fail."""


def _lease_span(timeout: Callable[[], float | None]) -> timedelta | None:
    """The lease a timeout allows (None: the timeout is not set)."""
    try:
        value = timeout()
    except (TypeError, ValueError):  # a stored value that is not a number
        return _LONGEST_LEASE
    if value is None:
        return None
    if not value > 0 or value >= _LONGEST_LEASE.total_seconds():  # NaN too
        return _LONGEST_LEASE
    return timedelta(seconds=value)


def run_deadline(now: datetime, *timeouts: float | None) -> datetime | None:
    """When a run made ``now`` times out: the nearest of its timeouts (None: it never does)."""
    seconds = [t for t in timeouts if t]
    return now + timedelta(seconds=min(seconds)) if seconds else None
