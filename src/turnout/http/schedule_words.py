"""A schedule in words, as the console's schedule pages write it: when it fires (its
calendars, intervals, skips, bounds, jitter and time zone) and what an overlap does.

Each function reads the API's :class:`~turnout.http.models.ScheduleView`, so the page
says what ``GET /schedules/{id}`` answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from turnout.http.models import CalendarBody, IntervalBody, RangeBody, ScheduleView
from turnout.http.present import when

__all__ = ["OVERLAP_WORDS", "calendar_words", "duration_words", "spec_words"]

_DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

OVERLAP_WORDS = {
    "SKIP": "skip a fire while a run it started is open",
    "BUFFER_ONE": "start once the open run closes; keep one such start, skip the others",
    "BUFFER_ALL": "start each, in order, once the run before it closes",
    "CANCEL_OTHER": "cancel the open run, and start once it has closed",
    "TERMINATE_OTHER": "terminate the open run and start at once",
    "ALLOW_ALL": "start at once, however many runs are open",
}
"""What each overlap policy does, in words."""


def duration_words(seconds: float) -> str:
    """``5400`` as ``1 h 30 min``: days, hours, minutes, seconds and milliseconds."""
    if seconds <= 0:
        return "0 s"
    parts = []
    rest = round(seconds * 1000)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {unit}")
    if rest:
        parts.append(f"{rest} ms")
    return " ".join(parts)


def _values(ranges: Sequence[RangeBody]) -> list[int]:
    found: set[int] = set()
    for r in ranges:
        found.update(range(r.start, max(r.start, r.end) + 1, max(r.step, 1)))
    return sorted(found)


def _field(ranges: Sequence[RangeBody], low: int, high: int, names: Sequence[str] = ()) -> str:
    """A field's ranges as ``1, 5-9, 10-20 every 2`` (``""``: every value)."""
    if _values(ranges) == list(range(low, high + 1)):
        return ""

    def name(value: int) -> str:
        return names[value - low] if names and low <= value <= high else str(value)

    texts = []
    for r in ranges:
        end = max(r.start, r.end)
        text = name(r.start) if end == r.start else f"{name(r.start)}-{name(end)}"
        texts.append(text + (f" every {r.step}" if r.step > 1 and end > r.start else ""))
    return ", ".join(texts)


def _every(ranges: Sequence[RangeBody], high: int) -> int | None:
    """The step of a field that is one range over all its values from 0 (``*/5``)."""
    if len(ranges) == 1 and ranges[0].start == 0 and ranges[0].end >= high - ranges[0].step + 1:
        return max(ranges[0].step, 1)
    return None


def _time_words(c: CalendarBody) -> str:
    seconds, minutes, hours = _values(c.second), _values(c.minute), _values(c.hour)
    if len(seconds) == len(minutes) == len(hours) == 1:
        clock = f"{hours[0]:02d}:{minutes[0]:02d}"
        return "at " + clock + (f":{seconds[0]:02d}" if seconds[0] else "")
    parts = []
    if seconds != [0]:
        step = _every(c.second, 59)
        parts.append(
            ("every second" if step == 1 else f"every {step} seconds")
            if step
            else f"at second {_field(c.second, 0, 59)}"
        )
    step = _every(c.minute, 59)
    if step and seconds == [0]:
        parts.append("every minute" if step == 1 else f"every {step} minutes")
    elif not step or step > 1:
        parts.append(f"at minute {_field(c.minute, 0, 59) or '0-59'}")
    hour_text = _field(c.hour, 0, 23)
    if hour_text:
        step = _every(c.hour, 23)
        parts.append(f"every {step} hours" if step and step > 1 else f"of hour {hour_text}")
    return ", ".join(parts)


def calendar_words(c: CalendarBody) -> str:
    """A calendar in words: ``at 02:00, on Mon-Fri`` or ``every 15 minutes, every day``."""
    days = []
    day_of_week = _field(c.day_of_week, 0, 6, _DAYS)
    day_of_month = _field(c.day_of_month, 1, 31)
    month = _field(c.month, 1, 12, _MONTHS)
    if day_of_week:
        days.append(f"on {day_of_week}")
    if day_of_month:
        days.append(f"on day {day_of_month} of the month")
    if month:
        days.append(f"in {month}")
    if c.year:
        days.append(f"in {_field(c.year, 0, -1)}")
    text = ", ".join([_time_words(c), *(days or ["every day"])])
    return text + (f" ({c.comment})" if c.comment else "")


def _interval_words(interval: IntervalBody) -> str:
    text = f"every {duration_words(interval.every.total_seconds())}"
    if interval.offset:
        text += f", offset by {duration_words(interval.offset.total_seconds())}"
    return text


def spec_words(view: ScheduleView) -> list[str]:
    """When the schedule fires, one line per calendar, interval, cron expression, skip and
    bound (cron expressions usually come back as calendars)."""
    zone = view.time_zone_name or "UTC"
    lines = [f"{calendar_words(c)} ({zone})" for c in view.calendars]
    lines += [f"cron {e} ({zone})" for e in view.cron_expressions]
    lines += [
        _interval_words(i if isinstance(i, IntervalBody) else IntervalBody(every=i))
        for i in view.intervals
    ]
    lines += [f"except {calendar_words(c)} ({zone})" for c in view.skip]
    if view.start_at:
        lines.append(f"not before {when(view.start_at)}")
    if view.end_at:
        lines.append(f"not after {when(view.end_at)}")
    if view.jitter:
        lines.append(f"each fire delayed by up to {duration_words(view.jitter.total_seconds())}")
    return lines
