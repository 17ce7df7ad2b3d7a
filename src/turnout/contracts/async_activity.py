"""Asynchronous activity completion: the handle a client gives on an activity that called
``activity.raise_complete_async()``, what identifies that activity, and the errors of
its calls. Each executor's client implements the handle
(``client.get_async_activity_handle(...)``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from turnout.contracts.errors import TurnoutError

__all__ = [
    "ActivityNotFoundError",
    "AsyncActivityCancelledError",
    "AsyncActivityHandle",
    "AsyncActivityIDReference",
    "async_activity_target",
]


@dataclass(frozen=True)
class AsyncActivityIDReference:
    """An activity of a workflow run named by ids instead of a task token (``run_id``
    None: the workflow's latest run)."""

    workflow_id: str | None
    run_id: str | None
    activity_id: str


class AsyncActivityCancelledError(TurnoutError):
    """``AsyncActivityHandle.heartbeat`` found that the activity was asked to cancel:
    stop its work and call ``report_cancellation()``."""

    def __init__(self, details: object = None) -> None:
        super().__init__("Activity cancelled")
        self.details = details
        """Always None: turnout's cancellations carry no details."""


class ActivityNotFoundError(TurnoutError):
    """There is no open activity attempt to complete, fail, heartbeat or cancel: it
    already completed, failed, timed out or was canceled, a retry replaced the attempt
    the task token names, its run closed, or it never existed. Nothing was recorded.

    Temporal answers these calls with an ``RPCError`` whose status is ``NOT_FOUND``;
    turnout raises this on every executor.
    """

    def __init__(self, what: str, detail: str | None = None) -> None:
        reason = detail or (
            "it already completed, failed, timed out or was canceled, a retry replaced "
            "that attempt, or its run closed"
        )
        super().__init__(f"{what} is not open for completion: {reason}; nothing was recorded")
        self.what = what


class AsyncActivityHandle(ABC):
    """A handle on an activity that is completed from outside its worker (it called
    ``activity.raise_complete_async()``); ``client.get_async_activity_handle(...)``
    gives one, by the activity's task token or by its workflow, run and activity ids.

    Each call raises :class:`ActivityNotFoundError` when the attempt is no longer open.
    """

    def __init__(self, id_or_token: AsyncActivityIDReference | bytes) -> None:
        self._id_or_token = id_or_token

    @property
    def id_or_token(self) -> AsyncActivityIDReference | bytes:
        """What the handle was made from: the ids, or the task token."""
        return self._id_or_token

    @abstractmethod
    async def heartbeat(self, *details: Any) -> None:
        """Record a heartbeat: ``details`` are kept for the next attempt and the heartbeat
        timeout starts again. Raises :class:`AsyncActivityCancelledError` once the
        activity was asked to cancel."""

    @abstractmethod
    async def complete(self, result: Any = None) -> None:
        """Complete the activity with ``result``: the workflow awaiting it gets it."""

    @abstractmethod
    async def fail(self, error: Exception, *, last_heartbeat_details: Sequence[Any] = ()) -> None:
        """Fail this attempt with ``error``: the activity's retry policy decides whether
        another attempt runs, else the workflow sees an ActivityError caused by it."""

    @abstractmethod
    async def report_cancellation(self, *details: Any) -> None:
        """Report that the activity stopped because it was asked to cancel."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._id_or_token!r})"


def async_activity_target(
    *,
    workflow_id: str | None,
    run_id: str | None,
    activity_id: str | None,
    task_token: bytes | None,
) -> AsyncActivityIDReference | bytes:
    """What ``get_async_activity_handle``'s arguments name: a task token alone, or the
    workflow id and activity id (and optionally the run id). Anything else is a
    one-line ValueError saying what to pass."""
    if task_token is not None:
        if workflow_id is not None or run_id is not None or activity_id is not None:
            raise ValueError(
                "get_async_activity_handle takes a task_token alone, or workflow_id, "
                "run_id and activity_id: not both"
            )
        if not isinstance(task_token, bytes | bytearray):
            raise ValueError(
                f"task_token must be bytes (activity.info().task_token), "
                f"not {type(task_token).__name__}"
            )
        return bytes(task_token)
    if workflow_id is None or activity_id is None:
        raise ValueError(
            "get_async_activity_handle needs task_token=..., or workflow_id=..., "
            "run_id=... and activity_id=... (activities run only inside workflows)"
        )
    return AsyncActivityIDReference(workflow_id=workflow_id, run_id=run_id, activity_id=activity_id)
