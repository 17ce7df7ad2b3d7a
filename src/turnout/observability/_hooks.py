"""What a worker reports as it works, and the log context every line of a task carries.

:class:`Observer` is the hook object an internal worker calls at a few points
(a claim, the start and end of a workflow task or an activity, a retry, a dead
letter, an expired lease). This base class only keeps the log context: the
workflow id, run id, correlation id and attempt of the task in progress, in a
context variable that :class:`TaskContextFilter` adds to every log record.
:class:`turnout.observability.WorkerObserver` adds metrics and traces. Nothing
here needs prometheus-client or OpenTelemetry.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from turnout.contracts.hooks import ClaimedWork, with_activity_headers

if TYPE_CHECKING:
    from turnout.contracts.errors import Failure
    from turnout.workflows._runtime import ActivityInfo, WorkflowInfo

__all__ = [
    "LOG_FIELDS",
    "Observer",
    "TaskContextFilter",
    "bind_log_context",
    "current_log_context",
    "guarded",
    "headers_of",
    "unbind_log_context",
]

_log = logging.getLogger("turnout.observer")

LOG_FIELDS = ("workflow_id", "run_id", "correlation_id", "attempt")
"""The fields every log line of a workflow task or activity carries."""

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "turnout_log_context", default=None
)


def current_log_context() -> dict[str, Any]:
    """The log fields of the workflow task or activity running in this context (or {})."""
    return dict(_context.get() or {})


def bind_log_context(**fields: Any) -> contextvars.Token[dict[str, Any] | None]:
    """Make ``fields`` the log context of this context (an executor's task); returns the
    token for :func:`unbind_log_context`."""
    return _context.set(fields)


def unbind_log_context(token: contextvars.Token[dict[str, Any] | None]) -> None:
    """Restore the log context :func:`bind_log_context` replaced."""
    _context.reset(token)


class TaskContextFilter(logging.Filter):
    """Adds ``workflow_id``, ``run_id``, ``correlation_id``, ``attempt`` (and ``task_queue``)
    to every record, from the task in progress; empty strings outside a task. Install it on
    a handler: ``handler.addFilter(TaskContextFilter())``."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get() or {}
        for name in (*LOG_FIELDS, "task_queue"):
            if not hasattr(record, name):
                setattr(record, name, fields.get(name, ""))
        return True


def headers_of(item: ClaimedWork) -> dict[str, str]:
    """The headers an activity item carries (see ``ScheduleActivity.headers``)."""
    headers = item.payload.get("headers")
    return headers if isinstance(headers, dict) else {}


def _item_fields(item: ClaimedWork) -> dict[str, Any]:
    return {
        "workflow_id": item.workflow_id,
        "run_id": item.run_id,
        "correlation_id": str(headers_of(item).get("correlation_id") or ""),
        "attempt": item.attempt,
        "task_queue": item.task_queue,
    }


class Observer:
    """The hooks a worker calls (``turnout.contracts.hooks.WorkerHooks``); this one keeps
    the log context only.

    A workflow task or an activity runs in its own asyncio task: ``*_began`` sets the
    context of that task, ``*_ended`` closes what the begin opened. A hook that raises is
    logged (once a minute per hook, logger ``turnout.observer``) and otherwise ignored:
    the worker goes on.
    """

    def attach(self, worker: Any) -> None:
        """The worker started (``worker``: the executor's worker)."""

    def detach(self, worker: Any) -> None:
        """The worker stopped."""

    def claimed(self, item: ClaimedWork) -> None:
        """The worker took ``item`` (a poll claim or an eager claim)."""

    # -- workflow tasks
    def workflow_task_began(self, item: ClaimedWork) -> None:
        """A workflow task starts, before its run is read."""
        _context.set(_item_fields(item))

    def workflow_task_loaded(self, info: WorkflowInfo) -> None:
        """The run of the workflow task in progress was read: its type and correlation id."""
        fields = _context.get()
        if fields is not None:
            fields["correlation_id"] = info.correlation_id
            fields["workflow_type"] = info.workflow_type

    def workflow_task_failed(self, error: BaseException) -> None:
        """The workflow code failed or contradicted its history (the task will be retried)."""

    def scheduling(self, commands: Sequence[Any]) -> list[Any]:
        """The commands about to be committed; an observer may add headers to the
        activities they schedule (a trace context). The worker has already given them the
        run's correlation id."""
        return list(commands)

    def _with_headers(self, commands: Sequence[Any], headers: dict[str, str]) -> list[Any]:
        return with_activity_headers(commands, headers) if headers else list(commands)

    def workflow_task_committed(self, commands: Sequence[Any]) -> None:
        """The workflow task's commands were committed."""

    def workflow_task_ended(self, error: BaseException | None) -> None:
        """The workflow task is over (``error``: it crashed)."""
        _context.set(None)

    # -- activities
    def activity_began(self, item: ClaimedWork) -> None:
        """An activity attempt starts."""
        _context.set(_item_fields(item))

    def activity_running(self, info: ActivityInfo) -> None:
        """The activity's code is about to run (its policies allowed it)."""

    def activity_failed(self, failure: Failure) -> None:
        """The activity attempt failed (its code raised, timed out, or was refused)."""

    def activity_ended(self, error: BaseException | None) -> None:
        """The activity attempt is over (``error``: recording its outcome crashed)."""
        _context.set(None)

    # -- outcomes recorded in the store
    def retried(self, item: ClaimedWork) -> None:
        """A failed activity attempt was put back for another attempt."""

    def dead_lettered(self, item: ClaimedWork) -> None:
        """An activity ran out of retries (or timed out for good): its item is dead."""

    def lease_expired(self, item: ClaimedWork) -> None:
        """The reaper found ``item``'s lease expired (its worker died or stalled)."""

    def quarantined(self, kind: str, reason: str) -> None:
        """Maintenance could not handle a queue item (``kind``: its kind) or a run
        (``"run"``), and set it aside so the pass went on."""


_LOG_EVERY = 60.0
"""Seconds between two log lines about the same hook failing."""


class _Guarded(Observer):
    """Calls ``inner``'s hooks for the worker; a hook that raises is logged (once a minute
    per hook) and otherwise ignored: an observer's bug never stops the work it watches."""

    def __init__(self, inner: Observer) -> None:
        self.inner = inner
        self._logged: dict[str, float] = {}

    def _failed(self, hook: str, exc: Exception) -> None:
        now = time.monotonic()
        last = self._logged.get(hook)
        if last is not None and now - last < _LOG_EVERY:
            return
        self._logged[hook] = now
        _log.warning(
            "observer %s.%s raised %r (ignored; logged at most once a minute)",
            type(self.inner).__name__,
            hook,
            exc,
            exc_info=exc,
        )

    def _call(self, hook: str, *args: Any) -> None:
        try:
            getattr(self.inner, hook)(*args)
        except Exception as exc:
            self._failed(hook, exc)

    def attach(self, worker: Any) -> None:
        self._call("attach", worker)

    def detach(self, worker: Any) -> None:
        self._call("detach", worker)

    def claimed(self, item: ClaimedWork) -> None:
        self._call("claimed", item)

    def workflow_task_began(self, item: ClaimedWork) -> None:
        self._call("workflow_task_began", item)

    def workflow_task_loaded(self, info: WorkflowInfo) -> None:
        self._call("workflow_task_loaded", info)

    def workflow_task_failed(self, error: BaseException) -> None:
        self._call("workflow_task_failed", error)

    def scheduling(self, commands: Sequence[Any]) -> list[Any]:
        try:
            return list(self.inner.scheduling(commands))
        except Exception as exc:
            self._failed("scheduling", exc)
            return super().scheduling(commands)  # the commands as the worker made them

    def workflow_task_committed(self, commands: Sequence[Any]) -> None:
        self._call("workflow_task_committed", commands)

    def workflow_task_ended(self, error: BaseException | None) -> None:
        self._call("workflow_task_ended", error)

    def activity_began(self, item: ClaimedWork) -> None:
        self._call("activity_began", item)

    def activity_running(self, info: ActivityInfo) -> None:
        self._call("activity_running", info)

    def activity_failed(self, failure: Failure) -> None:
        self._call("activity_failed", failure)

    def activity_ended(self, error: BaseException | None) -> None:
        self._call("activity_ended", error)

    def retried(self, item: ClaimedWork) -> None:
        self._call("retried", item)

    def dead_lettered(self, item: ClaimedWork) -> None:
        self._call("dead_lettered", item)

    def lease_expired(self, item: ClaimedWork) -> None:
        self._call("lease_expired", item)

    def quarantined(self, kind: str, reason: str) -> None:
        self._call("quarantined", kind, reason)


def guarded(observer: Observer | None) -> Observer:
    """``observer`` (the log-context-only :class:`Observer` when None) behind a guard that
    logs and ignores what its hooks raise; a guarded observer is returned as it is."""
    if isinstance(observer, _Guarded):
        return observer
    return _Guarded(observer if observer is not None else Observer())
