"""When a schedule fires: cron expressions read into calendars, and the fire times of a
:class:`ScheduleSpec` after a moment. Every executor that keeps schedules itself computes
them here; the spec is checked here too, so a bad one is refused before it is kept.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from turnout.contracts.limits import InvalidInputError
from turnout.contracts.schedules import (
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleRange,
    ScheduleSpec,
)

__all__ = [
    "check_cron_schedule",
    "check_spec",
    "cron_next",
    "fire_times",
    "jittered",
    "next_fire",
    "parse_cron",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SKIPS = 100_000
"""The most fire times in a row a spec's skips may skip before it counts as never
firing (a skip of whole days skips a day at once)."""
_HORIZON_DAYS = 366 * 8
"""How far ahead a calendar is searched for its next moment (a leap day every 4 years,
with years excluded, still fires within 8)."""

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_PREDEFINED = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day_of_month", 1, 31, ()),
           ("month", 1, 12, _MONTHS), ("day_of_week", 0, 7, _DAYS))  # fmt: skip


def _cron_value(text: str, names: Sequence[str], low: int, what: str) -> int:
    upper = text.upper()
    if upper in names:
        return names.index(upper) + (1 if names is _MONTHS else 0)
    if not text.isdigit():
        raise InvalidInputError(f"{what} has {text!r}, not a number or a name")
    return int(text)


def _cron_field(
    text: str, low: int, high: int, names: Sequence[str], what: str
) -> tuple[ScheduleRange, ...]:
    ranges = []
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else 0
        if step_text and not step:
            raise InvalidInputError(
                f"{what} has the step {step_text!r}; a step is a number above 0"
            )
        if body == "*":
            start, end = low, high if names is not _DAYS else 6
        elif "-" in body:
            first, _, last = body.partition("-")
            start = _cron_value(first, names, low, what)
            end = _cron_value(last, names, low, what)
        else:
            start = _cron_value(body, names, low, what)
            end = high if step else start
        if not low <= start <= high or not low <= end <= high or end < start:
            raise InvalidInputError(f"{what} has {part!r}, outside {low}-{high}")
        ranges.append(ScheduleRange(start, end, step))
    return tuple(ranges)


def parse_cron(expression: str) -> ScheduleCalendarSpec:
    """The calendar of a cron expression: ``minute hour day-of-month month day-of-week``
    (``*``, lists, ranges, steps, month and day names) or ``@daily``, ``@hourly``..."""
    what = f"the cron expression {expression!r}"
    text = _PREDEFINED.get(expression.strip().lower(), expression.strip())
    fields = text.split()
    if len(fields) != 5:
        raise InvalidInputError(
            f"{what} has {len(fields)} fields; give five (minute hour day-of-month month "
            "day-of-week, e.g. '30 2 * * MON') or @hourly, @daily, @weekly, @monthly, @yearly"
        )
    parsed = {
        name: _cron_field(value, low, high, names, f"the {name.replace('_', ' ')} of {what}")
        for value, (name, low, high, names) in zip(fields, _FIELDS, strict=True)
    }
    # Sunday is 0 or 7.
    parsed["day_of_week"] = tuple(
        ScheduleRange(0, 0) if r.start == 7 else r for r in parsed["day_of_week"]
    )
    return ScheduleCalendarSpec(
        second=(ScheduleRange(0),),
        minute=parsed["minute"],
        hour=parsed["hour"],
        day_of_month=parsed["day_of_month"],
        month=parsed["month"],
        day_of_week=parsed["day_of_week"],
        comment=expression,
    )


_Key = tuple[tuple[tuple[int, int, int], ...], ...]


def _key(spec: ScheduleCalendarSpec) -> _Key:
    fields = (spec.second, spec.minute, spec.hour, spec.day_of_month, spec.month, spec.year,
              spec.day_of_week)  # fmt: skip
    return tuple(tuple((r.start, r.end, r.step) for r in ranges) for ranges in fields)


@functools.lru_cache(maxsize=256)
def _calendar_of(key: _Key) -> _Calendar:
    def values(ranges: tuple[tuple[int, int, int], ...]) -> list[int]:
        return sorted({v for r in ranges for v in ScheduleRange(*r).values()})

    second, minute, hour, day_of_month, month, year, day_of_week = (values(f) for f in key)
    return _Calendar(
        seconds=tuple(h * 3600 + m * 60 + s for h in hour for m in minute for s in second),
        hour=frozenset(hour),
        minute=frozenset(minute),
        second=frozenset(second),
        day_of_month=frozenset(day_of_month),
        month=frozenset(month),
        year=frozenset(year) if year else None,
        day_of_week=frozenset(v % 7 for v in day_of_week),
    )


@dataclass(frozen=True)
class _Calendar:
    """A calendar's fields as sets of values, and its moments of a day in seconds."""

    seconds: tuple[int, ...]
    """The seconds of a day it holds, ascending."""
    hour: frozenset[int]
    minute: frozenset[int]
    second: frozenset[int]
    day_of_month: frozenset[int]
    month: frozenset[int]
    year: frozenset[int] | None
    day_of_week: frozenset[int]

    @staticmethod
    def of(spec: ScheduleCalendarSpec) -> _Calendar:
        return _calendar_of(_key(spec))

    @property
    def whole_day(self) -> bool:
        """True when it holds every second of the days it holds."""
        return len(self.seconds) == 86_400

    def holds_day(self, day: date) -> bool:
        return (
            day.month in self.month
            and day.day in self.day_of_month
            and (day.isoweekday() % 7) in self.day_of_week
            and (self.year is None or day.year in self.year)
        )

    def holds(self, local: datetime) -> bool:
        return (
            self.holds_day(local.date())
            and local.hour in self.hour
            and local.minute in self.minute
            and local.second in self.second
        )

    def next_after(self, after: datetime, zone: ZoneInfo) -> datetime | None:
        """Its first moment after ``after``: the day's moments are found by bisection,
        so a calendar of every second costs no more than one of a single time."""
        local = after.astimezone(zone)
        day = local.date()
        start = bisect.bisect_left(
            self.seconds, local.hour * 3600 + local.minute * 60 + local.second
        )
        for _ in range(_HORIZON_DAYS):
            if self.holds_day(day):
                for second in self.seconds[start:]:
                    moment = time(second // 3600, second // 60 % 60, second % 60)
                    candidate = datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)
                    if candidate > after:
                        return candidate
            day += timedelta(days=1)
            start = 0
        return None


def _zone(spec: ScheduleSpec) -> ZoneInfo:
    name = spec.time_zone_name or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"time_zone_name {name!r} is not a time zone; give an IANA name, e.g. 'Europe/Paris'"
        ) from None


def _interval_next(interval: ScheduleIntervalSpec, after: datetime) -> datetime:
    every = interval.every
    base = _EPOCH + (interval.offset or timedelta())
    steps = (after - base) // every + 1
    return base + steps * every


@dataclass(frozen=True)
class _Compiled:
    calendars: tuple[_Calendar, ...]
    skip: tuple[_Calendar, ...]
    intervals: tuple[ScheduleIntervalSpec, ...]
    zone: ZoneInfo


def _compiled(spec: ScheduleSpec) -> _Compiled:
    calendars = [*spec.calendars, *(parse_cron(c) for c in spec.cron_expressions)]
    return _Compiled(
        tuple(_Calendar.of(c) for c in calendars),
        tuple(_Calendar.of(c) for c in spec.skip),
        tuple(spec.intervals),
        _zone(spec),
    )


def check_spec(spec: ScheduleSpec) -> ScheduleSpec:
    """``spec`` with its times in UTC, refused (InvalidInputError, one line) when it
    cannot fire: nothing to fire by, an interval not above zero, a bad cron expression or
    time zone, a range outside its field, or ``end_at`` before ``start_at``."""
    if not isinstance(spec, ScheduleSpec):
        raise InvalidInputError(
            f"the schedule's spec is {type(spec).__name__}; give a ScheduleSpec"
        )
    if not (spec.calendars or spec.intervals or spec.cron_expressions):
        raise InvalidInputError(
            "the schedule's spec fires never; give cron_expressions, calendars or intervals"
        )
    for interval in spec.intervals:
        if interval.every < timedelta(seconds=1):
            raise InvalidInputError(
                f"the interval every={interval.every} is under a second; give at least 1 s"
            )
    for moment in (spec.start_at, spec.end_at):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInputError("start_at and end_at must be aware datetimes (tzinfo=UTC)")
    if spec.start_at and spec.end_at and spec.end_at < spec.start_at:
        raise InvalidInputError("the schedule's end_at is before its start_at")
    if spec.jitter is not None and spec.jitter < timedelta():
        raise InvalidInputError("the schedule's jitter is negative")
    compiled = _compiled(spec)
    for calendar in (*compiled.calendars, *compiled.skip):
        bounds = {"second": 59, "minute": 59, "hour": 23}
        for name, high in bounds.items():
            if any(not 0 <= v <= high for v in getattr(calendar, name)):
                raise InvalidInputError(f"a calendar's {name} is outside 0-{high}")
    # As Temporal's server keeps a spec: cron expressions as calendars, each range with
    # its end and step spelled out, times in UTC.
    return replace(
        spec,
        calendars=[
            _spelled(c)
            for c in [
                *spec.calendars,
                *(replace(parse_cron(e), comment=None) for e in spec.cron_expressions),
            ]
        ],
        cron_expressions=[],
        skip=[_spelled(c) for c in spec.skip],
        start_at=spec.start_at.astimezone(UTC) if spec.start_at else None,
        end_at=spec.end_at.astimezone(UTC) if spec.end_at else None,
    )


def _spelled(calendar: ScheduleCalendarSpec) -> ScheduleCalendarSpec:
    def spell(ranges: Sequence[ScheduleRange]) -> tuple[ScheduleRange, ...]:
        return tuple(ScheduleRange(r.start, max(r.start, r.end), max(r.step, 1)) for r in ranges)

    return ScheduleCalendarSpec(
        second=spell(calendar.second),
        minute=spell(calendar.minute),
        hour=spell(calendar.hour),
        day_of_month=spell(calendar.day_of_month),
        month=spell(calendar.month),
        year=spell(calendar.year),
        day_of_week=spell(calendar.day_of_week),
        comment=calendar.comment,
    )


def next_fire(spec: ScheduleSpec, after: datetime) -> datetime | None:
    """The first nominal fire time after ``after`` (None: the schedule never fires again)."""
    compiled = _compiled(spec)
    if spec.start_at is not None and after < spec.start_at:
        after = spec.start_at - timedelta(microseconds=1)
    for _ in range(_SKIPS):
        candidates = [c.next_after(after, compiled.zone) for c in compiled.calendars]
        candidates += [_interval_next(i, after) for i in compiled.intervals]
        found = [c for c in candidates if c is not None]
        if not found:
            return None
        moment = min(found)
        if spec.end_at is not None and moment > spec.end_at:
            return None
        local = moment.astimezone(compiled.zone)
        skipping = [s for s in compiled.skip if s.holds(local)]
        if not skipping:
            return moment
        after = moment
        if any(s.whole_day for s in skipping):
            # A skip of whole days: on to the day's end at once, not second by second.
            following = datetime.combine(
                local.date() + timedelta(days=1), time(), tzinfo=compiled.zone
            )
            after = max(moment, following.astimezone(UTC) - timedelta(microseconds=1))
    return None  # skipped this many times in a row: it does not fire


def fire_times(spec: ScheduleSpec, after: datetime, until: datetime, limit: int) -> list[datetime]:
    """The nominal fire times in (``after``, ``until``], at most ``limit``, oldest first."""
    out: list[datetime] = []
    moment = next_fire(spec, after)
    while moment is not None and moment <= until and len(out) < limit:
        out.append(moment)
        moment = next_fire(spec, moment)
    return out


def jittered(spec: ScheduleSpec, schedule_id: str, nominal: datetime) -> datetime:
    """When a nominal fire acts: up to ``jitter`` later, the same delay wherever it is
    computed (derived from the schedule and the fire time)."""
    if not spec.jitter:
        return nominal
    digest = hashlib.sha256(f"{schedule_id}@{nominal.isoformat()}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return nominal + spec.jitter * fraction


_EVERY = re.compile(r"(\d+)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def _every(expression: str) -> timedelta | None:
    """The interval of ``@every 90s`` (Go's duration form: ``1h30m``, ``2s``...), else None."""
    if not expression.startswith("@every "):
        return None
    text = expression[len("@every ") :].strip()
    parts = _EVERY.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InvalidInputError(
            f"cron_schedule {expression!r} has no duration after @every; write e.g. '@every 30s'"
        )
    every = timedelta(seconds=sum(int(n) * _UNIT_SECONDS[u] for n, u in parts))
    if every < timedelta(seconds=1):
        raise InvalidInputError(f"cron_schedule {expression!r} is under a second; give at least 1s")
    return every


def check_cron_schedule(expression: Any) -> str:
    """A start's ``cron_schedule``, refused (one line) unless it is five cron fields, a
    ``@daily``-like name or ``@every <duration>`` (Temporal's forms; read in UTC)."""
    if not isinstance(expression, str):
        raise InvalidInputError(f"cron_schedule is {type(expression).__name__}; give a cron string")
    if _every(expression) is None:
        parse_cron(expression)
    return expression


def cron_next(expression: str, after: datetime) -> datetime:
    """When the next run of a cron workflow starts: ``@every`` counts from ``after``
    (the start, or the previous run's close), a cron expression is its next moment."""
    every = _every(expression)
    if every is not None:
        return after + every
    moment = _Calendar.of(parse_cron(expression)).next_after(after, ZoneInfo("UTC"))
    assert moment is not None  # a five-field cron expression always has a next moment
    return moment
