"""The API's request and response bodies (pydantic).

Run, Event, Approval, PolicyDecision and Artifact are the contracts' own records,
serialised as they are; the models here are the bodies the API adds around them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    WithJsonSchema,
    model_validator,
)

from turnout.contracts.governance import Approval
from turnout.contracts.records import Run
from turnout.contracts.states import RunState
from turnout.http.models_queues import QueueList, QueueView, WorkerList

__all__ = [
    "Accepted",
    "ApprovalList",
    "BackfillRequest",
    "CalendarBody",
    "DecisionRequest",
    "ErrorBody",
    "ErrorDetail",
    "Health",
    "IntervalBody",
    "NoteRequest",
    "QueryAnswer",
    "QueueList",
    "QueueView",
    "RangeBody",
    "RecentActionView",
    "RunList",
    "RunView",
    "RunningActionView",
    "ScheduleAccepted",
    "ScheduleInfoView",
    "ScheduleList",
    "ScheduleRequest",
    "ScheduleView",
    "SignalAccepted",
    "SignalRequest",
    "StartRequest",
    "StartResponse",
    "TerminateRequest",
    "TriggerRequest",
    "WorkerList",
]

_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StartRequest(_Body):
    """``POST /workflows``: what to start."""

    workflow: str = Field(min_length=1, max_length=255, pattern=_PRINTABLE)
    """The workflow type name (``@workflow.defn(name=...)``, else the class name)."""
    args: list[Any] = []
    """The workflow's arguments, as JSON values."""
    id: str | None = Field(default=None, min_length=1, max_length=255, pattern=_PRINTABLE)
    """The workflow id (business identity); a new UUID when absent."""
    task_queue: str = Field(min_length=1, max_length=255, pattern=_PRINTABLE)
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=255, pattern=_PRINTABLE
    )
    """Same as the ``Idempotency-Key`` header."""
    correlation_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=_PRINTABLE
    )
    """Carried by every event of the run (at most 64 characters); a new one when absent."""


class StartResponse(BaseModel):
    """What a start answers: the run's ids, its state and its correlation id."""

    workflow_id: str
    run_id: str
    state: RunState
    correlation_id: str


class SignalRequest(_Body):
    """``POST /workflows/{id}/signals/{name}``: the signal's arguments."""

    args: list[Any] = []


class TerminateRequest(_Body):
    """``POST /workflows/{id}/terminate``: why."""

    reason: str | None = Field(default=None, max_length=10_000)


class DecisionRequest(_Body):
    """``POST .../approvals/{name}/approve`` or ``.../reject``: who decides, and why."""

    by: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$")
    reason: str | None = Field(default=None, max_length=10_000)


class RunView(Run):
    """A run's record with its input (``null`` where the executor does not report it)."""

    input: list[Any] | None = None


class RunList(BaseModel):
    """One page of runs, newest first; ``next_cursor`` asks for the next page."""

    items: list[Run]
    next_cursor: str | None = None


class ApprovalList(BaseModel):
    """Pending approvals of the tenant, oldest first."""

    items: list[Approval]


class SignalAccepted(BaseModel):
    """The signal was recorded on the run."""

    workflow_id: str
    run_id: str
    signal: str


class QueryAnswer(BaseModel):
    """The query handler's answer."""

    result: Any = None


class Accepted(BaseModel):
    """A cancellation or termination was recorded."""

    workflow_id: str
    run_id: str
    requested: str
    """``cancel`` or ``terminate``."""


class Health(BaseModel):
    """``GET /healthz``."""

    status: str
    executor: str


class ErrorDetail(BaseModel):
    code: str
    """A stable snake_case code (docs/http-api.md lists them)."""
    message: str
    """What is wrong and how to fix it."""


class ErrorBody(BaseModel):
    """Every error response."""

    error: ErrorDetail


# --------------------------------------------------------------------------- schedules

_DURATION_PATTERN = r"^([0-9]+(ms|s|m|h|d))+$"
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_SECONDS = 100 * 365 * 86400


def _duration(value: Any) -> Any:
    """Seconds (a number) or ``90s``, ``5m``, ``1h30m``, ``2d``, ``250ms`` as a timedelta;
    anything else is refused."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str) and re.fullmatch(_DURATION_PATTERN, value):
        value = sum(int(n) * _UNITS[u] for n, u in _DURATION_PART.findall(value))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("give seconds (a number) or a duration such as 90s, 5m, 1h30m or 2d")
    if not 0 <= value <= _MAX_SECONDS:
        raise ValueError(f"give 0 to {_MAX_SECONDS:,} seconds (a hundred years)")
    return timedelta(seconds=value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(lambda d: d.total_seconds(), return_type=float),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": _MAX_SECONDS},
                {"type": "string", "pattern": _DURATION_PATTERN},
            ],
            "description": "seconds, or a duration such as 90s, 5m, 1h30m, 2d (answers give "
            "seconds)",
        },
        mode="validation",
    ),
]
"""A length of time in a schedule's body: seconds, or ``90s``/``5m``/``1h30m``/``2d``."""


def _moment(value: Any) -> Any:
    """An ISO 8601 time with its time zone (``2026-12-24T18:00:00Z``), only as a string."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("give an ISO 8601 time with its time zone, e.g. 2026-12-24T18:00:00Z")
    return value


Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_moment),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="validation"),
]
"""A time in a schedule's body: ISO 8601 with a time zone."""

Overlap = Literal[
    "SKIP", "BUFFER_ONE", "BUFFER_ALL", "CANCEL_OTHER", "TERMINATE_OTHER", "ALLOW_ALL"
]
"""An overlap policy by its name (``ScheduleOverlapPolicy``)."""

_Name = Annotated[str, Field(min_length=1, max_length=255, pattern=_PRINTABLE)]
_Text = Annotated[str, Field(max_length=10_000)]


class RangeBody(_Body):
    """``start`` to ``end`` inclusive, every ``step`` (``ScheduleRange``)."""

    start: StrictInt = Field(ge=0, le=10_000)
    end: StrictInt = Field(default=0, ge=0, le=10_000)
    step: StrictInt = Field(default=0, ge=0, le=10_000)


_CALENDAR_BOUNDS = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day_of_month": (1, 31),
    "month": (1, 12),
    "year": (1970, 9999),
    "day_of_week": (0, 6),
}


def _ranges(*pairs: tuple[int, int]) -> list[RangeBody]:
    return [RangeBody(start=a, end=b) for a, b in pairs]


class CalendarBody(_Body):
    """Moments whose every field is in its ranges (``ScheduleCalendarSpec``); the defaults
    are midnight of every day. ``day_of_week`` is 0 (Sunday) to 6."""

    second: list[RangeBody] = Field(default_factory=lambda: _ranges((0, 0)), max_length=100)
    minute: list[RangeBody] = Field(default_factory=lambda: _ranges((0, 0)), max_length=100)
    hour: list[RangeBody] = Field(default_factory=lambda: _ranges((0, 0)), max_length=100)
    day_of_month: list[RangeBody] = Field(default_factory=lambda: _ranges((1, 31)), max_length=100)
    month: list[RangeBody] = Field(default_factory=lambda: _ranges((1, 12)), max_length=100)
    year: list[RangeBody] = Field(default_factory=list, max_length=100)
    day_of_week: list[RangeBody] = Field(default_factory=lambda: _ranges((0, 6)), max_length=100)
    comment: str | None = Field(default=None, max_length=1_000)

    @model_validator(mode="after")
    def _within_fields(self) -> CalendarBody:
        for name, (low, high) in _CALENDAR_BOUNDS.items():
            for r in getattr(self, name):
                if not (low <= r.start <= high and r.end <= high):
                    raise ValueError(f"{name} ranges are within {low}-{high}")
        return self


class IntervalBody(_Body):
    """Every ``every`` since the Unix epoch, shifted by ``offset``."""

    every: Duration
    offset: Duration | None = None


class _ScheduleFields(_Body):
    """What a schedule is, as both its creation and its description give it."""

    workflow: _Name
    """The workflow type name each fire starts."""
    task_queue: _Name
    args: list[Any] = []
    """The workflow's arguments, as JSON values."""
    workflow_id: _Name | None = None
    """The runs' workflow id, before ``-`` and the fire time (default: the schedule id)."""
    cron_expressions: list[str] = Field(default_factory=list, max_length=100)
    calendars: list[CalendarBody] = Field(default_factory=list, max_length=100)
    intervals: list[Duration | IntervalBody] = Field(default_factory=list, max_length=100)
    """Each an ``{"every", "offset"}`` object, or just its ``every``."""
    skip: list[CalendarBody] = Field(default_factory=list, max_length=100)
    start_at: Moment | None = None
    end_at: Moment | None = None
    jitter: Duration | None = None
    time_zone_name: str | None = Field(default=None, min_length=1, max_length=255)
    overlap: Overlap = "SKIP"
    catchup_window: Duration | None = None
    """How far back a fire missed while nothing ran is still started (default: a year)."""
    pause_on_failure: StrictBool = False
    paused: StrictBool = False
    note: _Text | None = None
    limited_actions: StrictBool = False
    remaining_actions: StrictInt = Field(default=0, ge=0, le=2**31 - 1)


class ScheduleRequest(_ScheduleFields):
    """``POST /schedules``: the schedule to create, under ``id``."""

    id: _Name
    """The schedule id."""


class RunningActionView(BaseModel):
    """A run the schedule started that is still open."""

    workflow_id: str
    run_id: str


class RecentActionView(RunningActionView):
    """One action: when it was due, when it happened, and the run it started."""

    scheduled_at: datetime
    started_at: datetime


class ScheduleInfoView(BaseModel):
    """What a schedule has done and will do."""

    num_actions: int
    num_actions_missed_catchup_window: int
    num_actions_skipped_overlap: int
    running_actions: list[RunningActionView]
    recent_actions: list[RecentActionView]
    """Oldest first."""
    next_action_times: list[datetime]
    created_at: datetime
    last_updated_at: datetime | None = None


class ScheduleView(_ScheduleFields):
    """A schedule as ``GET /schedules/{id}`` describes it: its fields (cron expressions
    come back as calendars, durations as seconds) and ``info``."""

    id: str
    info: ScheduleInfoView


class ScheduleList(BaseModel):
    """The tenant's schedules."""

    items: list[ScheduleView]


class NoteRequest(_Body):
    """``POST /schedules/{id}/pause`` or ``/unpause``: why."""

    note: _Text | None = None


class TriggerRequest(_Body):
    """``POST /schedules/{id}/trigger``: an overlap policy for this action alone."""

    overlap: Overlap | None = None


class BackfillRequest(_Body):
    """``POST /schedules/{id}/backfill``: act for every fire time from ``start_at`` to
    ``end_at`` as if it were now."""

    start_at: Moment
    end_at: Moment
    overlap: Overlap | None = None


class ScheduleAccepted(BaseModel):
    """A trigger or a backfill was accepted; its runs start as the schedule's policy says."""

    schedule_id: str
    requested: Literal["trigger", "backfill"]
