"""Asynchronous activity completion on the internal executor: task tokens and the handle.

An attempt that called ``activity.raise_complete_async()`` keeps its queue item
``running`` under its worker's lease, which ends where its first timeout falls; the
worker frees its slot. The handle completes, fails, heartbeats or cancels that item
through the store's guarded writes for the attempt (``complete_activity``,
``fail_activity`` with the activity's retry policy, ``heartbeat``,
``activity_canceled``): a write for an attempt that is no longer running (timed out and
retried, canceled, already completed) matches nothing, and the handle raises
:class:`ActivityNotFoundError`. The reaper times the attempt out as any other.

A task token names the queue item and the attempt: opaque bytes to the caller.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from turnout.contracts.async_activity import (
    ActivityNotFoundError,
    AsyncActivityCancelledError,
    AsyncActivityHandle,
    AsyncActivityIDReference,
)
from turnout.contracts.errors import DataConversionError, failure_from_exception
from turnout.contracts.retry import RetryPolicy
from turnout.executors.internal import codec
from turnout.executors.internal.reaper import apply_retry_policy
from turnout.executors.internal.store import ActivityLookup, ClaimedItem
from turnout.executors.internal.store.base import utcnow

if TYPE_CHECKING:
    from turnout.executors.internal.client import InternalClient

__all__ = [
    "InternalAsyncActivityHandle",
    "TokenTarget",
    "heartbeat_lease",
    "read_task_token",
    "task_token",
]

_PREFIX = b"turnout-activity:"


class TokenTarget(NamedTuple):
    """What a task token names: a queue item and its attempt."""

    item_id: int
    attempt: int


def task_token(item: ClaimedItem) -> bytes:
    """The task token of the activity attempt ``item`` (``activity.info().task_token``)."""
    body = json.dumps([item.id, item.attempt], separators=(",", ":")).encode()
    return _PREFIX + base64.urlsafe_b64encode(body)


def read_task_token(token: bytes) -> TokenTarget:
    """The attempt ``token`` names; a one-line ValueError when it is not a task token of
    the internal executor."""
    try:
        if not token.startswith(_PREFIX):
            raise ValueError
        item_id, attempt = json.loads(base64.urlsafe_b64decode(token[len(_PREFIX) :]))
        if not (type(item_id) is int and type(attempt) is int and item_id > 0 and attempt > 0):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValueError(
            f"the task token ({len(token)} bytes) is not a turnout activity task token: "
            "pass activity.info().task_token, unchanged, of an activity of this executor"
        ) from None
    return TokenTarget(item_id, attempt)


def heartbeat_lease(item: ClaimedItem, now: datetime) -> datetime:
    """The lease a heartbeat at ``now`` gives the attempt ``item``: until its heartbeat,
    start-to-close or schedule-to-close timeout, whichever comes first."""
    task = item.activity
    bounds = []
    if task.heartbeat_timeout:
        bounds.append(now + timedelta(seconds=task.heartbeat_timeout))
    if task.start_to_close_timeout:
        bounds.append(item.started_at + timedelta(seconds=task.start_to_close_timeout))
    if item.deadline_at is not None:
        bounds.append(item.deadline_at)
    return min(bounds) if bounds else item.lease_expires_at


class InternalAsyncActivityHandle(AsyncActivityHandle):
    """:class:`AsyncActivityHandle` on the internal executor (see the module)."""

    def __init__(self, client: InternalClient, target: AsyncActivityIDReference | bytes) -> None:
        super().__init__(target)
        self._client = client
        if isinstance(target, bytes):
            item_id, attempt = read_task_token(target)
            self._lookup = ActivityLookup(item_id=item_id, attempt=attempt)
            self._what = f"the activity attempt of task token {target.decode(errors='replace')}"
        else:
            self._lookup = ActivityLookup(
                workflow_id=target.workflow_id, run_id=target.run_id, activity_id=target.activity_id
            )
            run = f" (run {target.run_id})" if target.run_id else ""
            self._what = f"activity {target.activity_id!r} of workflow {target.workflow_id!r}{run}"

    async def _attempt(self) -> ClaimedItem:
        item = await self._client.store.running_activity(self._client.tenant_id, self._lookup)
        if item is None:
            raise ActivityNotFoundError(self._what)
        return item

    def _encode(self, values: Sequence[Any], what: str) -> list[Any]:
        try:
            encoded = codec.encode_args(list(values))
        except ValueError as exc:
            raise DataConversionError(f"{what} of {self._what}", exc) from None
        codec.check_size(encoded, f"{what} of {self._what}", self._client.max_payload_bytes)
        return encoded

    async def heartbeat(self, *details: Any) -> None:
        """Record a heartbeat (see :meth:`AsyncActivityHandle.heartbeat`)."""
        encoded = self._encode(details, "the heartbeat details")
        item = await self._attempt()
        store = self._client.store
        if await store.heartbeat(item, encoded, heartbeat_lease(item, utcnow())):
            # Asked to stop: a cancellation if the attempt still runs, else it is gone.
            if await self._client.store.running_activity(self._client.tenant_id, self._lookup):
                raise AsyncActivityCancelledError()
            raise ActivityNotFoundError(self._what)

    async def complete(self, result: Any = None) -> None:
        """Complete the activity (see :meth:`AsyncActivityHandle.complete`)."""
        (encoded,) = self._encode([result], "the result")
        item = await self._attempt()
        if not await self._client.store.complete_activity(item, encoded):
            raise ActivityNotFoundError(self._what)

    async def fail(self, error: Exception, *, last_heartbeat_details: Sequence[Any] = ()) -> None:
        """Fail this attempt (see :meth:`AsyncActivityHandle.fail`)."""
        if not isinstance(error, BaseException):
            raise TypeError(f"fail() takes an exception, not {type(error).__name__}")
        details = (
            self._encode(last_heartbeat_details, "the last heartbeat details")
            if last_heartbeat_details
            else None
        )
        item = await self._attempt()
        policy = RetryPolicy.model_validate(item.activity.retry_policy)
        failure = failure_from_exception(error)
        written = await apply_retry_policy(
            self._client.store, item, failure, policy, heartbeat_details=details
        )
        if not written:
            raise ActivityNotFoundError(self._what)

    async def report_cancellation(self, *details: Any) -> None:
        """Record that the activity stopped, canceled (see
        :meth:`AsyncActivityHandle.report_cancellation`); the details are checked, not kept."""
        self._encode(details, "the cancellation details")
        item = await self._attempt()
        if not await self._client.store.activity_canceled(item):
            raise ActivityNotFoundError(self._what)
