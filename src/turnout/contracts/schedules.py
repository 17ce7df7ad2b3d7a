"""Schedules: what starts a workflow again and again, by a calendar, a cron expression or
an interval (temporalio's names, fields and defaults; ``turnout.client`` re-exports them).

A :class:`Schedule` is an action (start a workflow), a spec (when), a policy (what an
overlap, a long downtime or a failure does) and a state (paused, a note, a limited number
of actions). ``client.create_schedule(id, schedule)`` keeps it; each fire starts one run
whose workflow id is the action's id followed by the fire time (``order-sweep-
2026-12-24T18:00:00Z``), on every executor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any, Protocol

from turnout.contracts.calls import ARG_UNSET, call_args
from turnout.contracts.errors import TurnoutError
from turnout.contracts.retry import RetryPolicy
from turnout.contracts.search_attributes import TypedSearchAttributes

__all__ = [
    "Schedule",
    "ScheduleActionExecutionStartWorkflow",
    "ScheduleActionResult",
    "ScheduleActionStartWorkflow",
    "ScheduleAlreadyRunningError",
    "ScheduleBackfill",
    "ScheduleCalendarSpec",
    "ScheduleDescription",
    "ScheduleHandle",
    "ScheduleInfo",
    "ScheduleIntervalSpec",
    "ScheduleListDescription",
    "ScheduleNotFoundError",
    "ScheduleOverlapPolicy",
    "SchedulePolicy",
    "ScheduleRange",
    "ScheduleSpec",
    "ScheduleState",
    "ScheduleUpdate",
    "ScheduleUpdateInput",
]


class ScheduleOverlapPolicy(IntEnum):
    """What a fire does while a run the schedule started is still open (Temporal's
    numbering)."""

    SKIP = 1
    """Start nothing; the next fire after the run closes is considered."""
    BUFFER_ONE = 2
    """Start once the open run closes; one such start is kept, later ones are skipped."""
    BUFFER_ALL = 3
    """Start each one, in order, once the run before it closes."""
    CANCEL_OTHER = 4
    """Ask the open run to cancel, and start once it has closed."""
    TERMINATE_OTHER = 5
    """Terminate the open run and start at once."""
    ALLOW_ALL = 6
    """Start at once, however many runs are open."""


@dataclass(frozen=True)
class ScheduleRange:
    """``start`` to ``end`` inclusive, every ``step`` (an ``end`` below ``start`` means
    ``start`` alone; a ``step`` of 0 means 1)."""

    start: int
    end: int = 0
    step: int = 0

    def values(self) -> range:
        """The values the range holds."""
        return range(self.start, max(self.start, self.end) + 1, max(self.step, 1))


@dataclass(frozen=True)
class ScheduleCalendarSpec:
    """Moments whose every field is in its ranges (all of them: the default is second 0,
    minute 0, hour 0 of every day: midnight). ``day_of_week`` is 0 (Sunday) to 6; an
    empty ``year`` means every year."""

    second: Sequence[ScheduleRange] = (ScheduleRange(0),)
    minute: Sequence[ScheduleRange] = (ScheduleRange(0),)
    hour: Sequence[ScheduleRange] = (ScheduleRange(0),)
    day_of_month: Sequence[ScheduleRange] = (ScheduleRange(1, 31),)
    month: Sequence[ScheduleRange] = (ScheduleRange(1, 12),)
    year: Sequence[ScheduleRange] = ()
    day_of_week: Sequence[ScheduleRange] = (ScheduleRange(0, 6),)
    comment: str | None = None


@dataclass(frozen=True)
class ScheduleIntervalSpec:
    """Every ``every`` since the Unix epoch, shifted by ``offset`` (``every=1 h,
    offset=5 min``: at 5 past each hour)."""

    every: timedelta
    offset: timedelta | None = None


@dataclass(frozen=True)
class ScheduleSpec:
    """When a schedule fires: at every moment of its calendars, cron expressions and
    intervals, except those its ``skip`` calendars match, between ``start_at`` and
    ``end_at``, each delayed by up to ``jitter``. Calendars and cron expressions are read
    in ``time_zone_name`` (UTC when None)."""

    calendars: Sequence[ScheduleCalendarSpec] = field(default_factory=list)
    intervals: Sequence[ScheduleIntervalSpec] = field(default_factory=list)
    cron_expressions: Sequence[str] = field(default_factory=list)
    skip: Sequence[ScheduleCalendarSpec] = field(default_factory=list)
    start_at: datetime | None = None
    end_at: datetime | None = None
    jitter: timedelta | None = None
    time_zone_name: str | None = None


class ScheduleActionStartWorkflow:
    """Start a workflow: the arguments of ``start_workflow``. The run's workflow id is
    ``id`` followed by ``-`` and the fire time."""

    def __init__(
        self,
        workflow: str | Callable[..., Any],
        arg: Any = ARG_UNSET,
        *,
        args: Sequence[Any] = (),
        id: str,
        task_queue: str,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        memo: dict[str, Any] | None = None,
        typed_search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty,
    ) -> None:
        self.workflow = workflow
        """The workflow type name, or its ``@workflow.run`` method until the schedule is
        created (a description gives the name)."""
        self.args = list(call_args(arg, args))
        self.id = id
        self.task_queue = task_queue
        self.execution_timeout = execution_timeout
        self.run_timeout = run_timeout
        self.task_timeout = task_timeout
        self.retry_policy = retry_policy
        self.memo = memo
        self.typed_search_attributes = typed_search_attributes

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScheduleActionStartWorkflow) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"ScheduleActionStartWorkflow({self.workflow!r}, id={self.id!r}, ...)"


@dataclass(frozen=True)
class SchedulePolicy:
    """What an overlap does (``overlap``), how far back a fire missed while nothing ran
    is still started (``catchup_window``; Temporal's default, a year, when None), and
    whether a failed run pauses the schedule (``pause_on_failure``)."""

    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.SKIP
    catchup_window: timedelta | None = None
    pause_on_failure: bool = False


@dataclass(frozen=True)
class ScheduleState:
    """Paused or not, with a note saying why; with ``limited_actions``, how many
    actions are left (``remaining_actions``) before the schedule stops acting."""

    note: str | None = None
    paused: bool = False
    limited_actions: bool = False
    remaining_actions: int = 0


@dataclass(frozen=True)
class Schedule:
    """An action, when it happens, and the policy and state of its schedule."""

    action: ScheduleActionStartWorkflow
    spec: ScheduleSpec
    policy: SchedulePolicy = field(default_factory=SchedulePolicy)
    state: ScheduleState = field(default_factory=ScheduleState)


@dataclass(frozen=True)
class ScheduleBackfill:
    """Act for every fire time between ``start_at`` and ``end_at`` as if it were now
    (``overlap`` overrides the policy's)."""

    start_at: datetime
    end_at: datetime
    overlap: ScheduleOverlapPolicy | None = None


@dataclass(frozen=True)
class ScheduleActionExecutionStartWorkflow:
    """A run a schedule started."""

    workflow_id: str
    first_execution_run_id: str


@dataclass(frozen=True)
class ScheduleActionResult:
    """One action: when it was due, when it happened, and the run it started."""

    scheduled_at: datetime
    started_at: datetime
    action: ScheduleActionExecutionStartWorkflow


@dataclass(frozen=True)
class ScheduleInfo:
    """What a schedule has done and will do."""

    num_actions: int
    num_actions_missed_catchup_window: int
    num_actions_skipped_overlap: int
    running_actions: Sequence[ScheduleActionExecutionStartWorkflow]
    recent_actions: Sequence[ScheduleActionResult]
    next_action_times: Sequence[datetime]
    created_at: datetime
    last_updated_at: datetime | None


@dataclass(frozen=True)
class ScheduleDescription:
    """``handle.describe()``: the schedule and what it has done."""

    id: str
    schedule: Schedule
    info: ScheduleInfo


@dataclass(frozen=True)
class ScheduleListDescription:
    """One schedule of ``client.list_schedules()``."""

    id: str
    schedule: Schedule
    info: ScheduleInfo


@dataclass(frozen=True)
class ScheduleUpdateInput:
    """What the updater of ``handle.update(updater)`` is given."""

    description: ScheduleDescription


@dataclass(frozen=True)
class ScheduleUpdate:
    """What an updater returns: the schedule as it should be (None: leave it)."""

    schedule: Schedule


class ScheduleAlreadyRunningError(TurnoutError):
    """A schedule of this id exists already (temporalio's name)."""

    def __init__(self, schedule_id: str) -> None:
        self.schedule_id = schedule_id
        super().__init__(
            f"schedule {schedule_id!r} exists already; update it with "
            "client.get_schedule_handle(id).update(...), or delete it first"
        )


class ScheduleNotFoundError(TurnoutError):
    """No schedule has this id (in this client's tenant or namespace)."""

    def __init__(self, schedule_id: str) -> None:
        self.schedule_id = schedule_id
        super().__init__(
            f"schedule {schedule_id!r} not found (check the id and the tenant; "
            "client.list_schedules() lists them)"
        )


class ScheduleHandle(Protocol):
    """A handle on one schedule (``client.get_schedule_handle(id)``), on every executor."""

    id: str

    async def describe(self) -> ScheduleDescription:
        """The schedule, what it has done and its next fire times."""
        ...

    async def pause(self, *, note: str | None = None) -> None:
        """Stop acting on fires; fires that pass while paused are not caught up."""
        ...

    async def unpause(self, *, note: str | None = None) -> None:
        """Act on fires again, from now on."""
        ...

    async def trigger(self, *, overlap: ScheduleOverlapPolicy | None = None) -> None:
        """Act once now, as a fire would."""
        ...

    async def backfill(self, *backfill: ScheduleBackfill) -> None:
        """Act on every fire time of each period as if it were now."""
        ...

    async def update(
        self,
        updater: Callable[
            [ScheduleUpdateInput], ScheduleUpdate | Awaitable[ScheduleUpdate | None] | None
        ],
    ) -> None:
        """Replace the schedule with what ``updater`` returns (None: leave it)."""
        ...

    async def delete(self) -> None:
        """Delete the schedule; the runs it started go on."""
        ...
