"""An activity item's payload, read once: ``ClaimedItem.activity``."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

__all__ = ["ActivityTask"]


class ActivityTask:
    """What an activity item's payload says (``ClaimedItem.activity``): the one place its
    keys are read. Timeouts are seconds (None: not set).

    Each field is read when first asked for, then kept. :attr:`activity_id` reads from any
    payload, so the store records an attempt's outcome whatever its options hold. From a
    payload stored before its values were checked (an older release) another field may
    raise ValueError or TypeError; :meth:`read` reads every field at once, so that the
    caller fails that activity, saying why, before using any of them.
    """

    def __init__(self, payload: Mapping[str, Any]) -> None:
        self._payload = payload

    def __repr__(self) -> str:
        return f"ActivityTask(activity_id={self.activity_id!r})"

    def read(self) -> ActivityTask:
        """This task, every field read (the first one that cannot be read raises)."""
        _ = (
            self.input,
            self.workflow_type,
            self.scheduled_at,
            self.start_to_close_timeout,
            self.schedule_to_close_timeout,
            self.heartbeat_timeout,
            self.retry_policy,
            self.headers,
        )
        return self

    @functools.cached_property
    def activity_id(self) -> str:
        """The activity's id (never raises)."""
        return str(self._payload.get("activity_id"))

    @functools.cached_property
    def input(self) -> list[Any]:
        """The JSON arguments of the activity."""
        return list(self._payload.get("input") or [])

    @functools.cached_property
    def workflow_type(self) -> str:
        """The type of the workflow that scheduled it."""
        return str(self._payload.get("workflow_type") or "")

    @functools.cached_property
    def scheduled_at(self) -> str | None:
        """When it was scheduled (ISO 8601), if recorded."""
        return self._payload.get("scheduled_at") or None

    @functools.cached_property
    def start_to_close_timeout(self) -> float | None:
        """The longest one attempt may run."""
        return _seconds(self._payload.get("start_to_close_timeout"))

    @functools.cached_property
    def schedule_to_close_timeout(self) -> float | None:
        """The longest all attempts together may take."""
        return _seconds(self._payload.get("schedule_to_close_timeout"))

    @functools.cached_property
    def heartbeat_timeout(self) -> float | None:
        """The longest an attempt may go without a heartbeat."""
        return _seconds(self._payload.get("heartbeat_timeout"))

    @functools.cached_property
    def retry_policy(self) -> dict[str, Any]:
        """The retry policy, as stored (a RetryPolicy's JSON)."""
        return dict(self._payload.get("retry_policy") or {})

    @functools.cached_property
    def headers(self) -> dict[str, str]:
        """The context that travels with it (correlation id, trace context)."""
        return dict(self._payload.get("headers") or {})

    @functools.cached_property
    def header(self) -> dict[str, Any]:
        """The payloads the workflow's interceptors set (``execute_activity``'s headers)."""
        return dict(self._payload.get("header") or {})


def _seconds(value: Any) -> float | None:
    return float(value) if value else None
