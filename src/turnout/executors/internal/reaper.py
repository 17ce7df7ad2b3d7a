"""The reaper: expired leases, run timeouts, and what an activity's retry policy says.

One pass handles each expired item, and each run past its execution timeout, on its
own. An item that raises is *quarantined* and the pass goes on: an activity attempt is
failed for good with the reason (its workflow sees an ActivityError and goes on); if
even that cannot be written, the item is set aside as ``dead`` with a
``dead_lettered`` event that says why. Either way it is logged once, counted
(``turnout_quarantined``) and never blocks the items behind it. A run whose timeout
cannot be written is skipped by later passes of this reaper and logged once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from turnout.contracts.errors import Failure, TimeoutType, error_line
from turnout.contracts.events import EventType
from turnout.contracts.records import QueueItemKind
from turnout.contracts.retry import RetryPolicy
from turnout.executors.internal.scheduler import Scheduler
from turnout.executors.internal.store import (
    ClaimedItem,
    ExpiredRunsParams,
    FailActivityParams,
    Store,
)
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.core import UNREACHABLE
from turnout.observability._hooks import Observer, guarded

__all__ = ["LONGEST_RETRY_DELAY", "Reaper", "apply_retry_policy", "reap_once", "timeout_failure"]

_log = logging.getLogger("turnout.reaper")

LONGEST_RETRY_DELAY = timedelta(days=3650)
"""The longest wait before a retry: a longer backoff (or one past what a date can hold)
waits this long instead of failing the write."""


class Reaper:
    """Runs maintenance passes over ``store`` (every tenant), remembering what it set aside."""

    def __init__(self, store: Store, observer: Observer | None = None) -> None:
        self._store = store
        self._observer = guarded(observer)
        self._skipped_runs: set[str] = set()
        self._scheduler = Scheduler(store)

    async def pass_once(self) -> int:
        """One pass; how many items or runs it moved (quarantined ones included)."""
        moved = 0
        for item in await self._store.expired_items():
            try:
                moved += await self._expired(item)
            except UNREACHABLE:
                raise  # the database is out of reach: the whole pass waits for it
            except Exception as exc:
                moved += await self._quarantine(item, exc)
        expired = await self._store.expired_runs(ExpiredRunsParams(skip=sorted(self._skipped_runs)))
        for run_id in expired:
            try:
                moved += await self._store.time_out_run(run_id)
            except UNREACHABLE:
                raise
            except Exception as exc:
                self._skipped_runs.add(run_id)
                self._observer.quarantined("run", str(exc))
                _log.error(
                    "run %s is past its execution timeout but cannot be closed (%s); this "
                    "worker skips it from now on: terminate it, or fix the cause and restart",
                    run_id,
                    error_line(exc),
                )
        return moved + await self._scheduler.pass_once()

    async def _expired(self, item: ClaimedItem) -> int:
        store, observer = self._store, self._observer
        if item.kind == QueueItemKind.WORKFLOW_TASK.value:
            requeued = await store.requeue_expired_workflow_task(item)
            if requeued:
                observer.lease_expired(item)
            return int(requeued)
        task = item.activity.read()
        now = utcnow()
        hb = task.heartbeat_timeout
        last_beat = item.heartbeat_at or item.started_at
        if item.deadline_at is not None and now >= item.deadline_at:
            kind = TimeoutType.SCHEDULE_TO_CLOSE
        elif hb and last_beat is not None and now >= last_beat + timedelta(seconds=hb):
            kind = TimeoutType.HEARTBEAT
        else:
            kind = TimeoutType.START_TO_CLOSE
        policy = RetryPolicy.model_validate(task.retry_policy)
        expired = (
            EventType.LEASE_EXPIRED,
            {
                "kind": item.kind,
                "queue_item_id": item.id,
                "worker": item.lease_owner,
                "attempt": item.attempt,
                "timeout": kind.value,
            },
        )
        failed = await apply_retry_policy(
            store,
            item,
            timeout_failure(kind, item.heartbeat_details),
            policy,
            extra=[expired],
            expired_before=now,
            observer=observer,
        )
        if failed:
            observer.lease_expired(item)
        return int(failed)

    async def _quarantine(self, item: ClaimedItem, exc: Exception) -> int:
        reason = f"maintenance could not handle queue item {item.id}: {error_line(exc)}"
        self._observer.quarantined(item.kind, reason)
        _log.error("%s; it is set aside (dead) and the pass goes on", reason)
        if item.kind == QueueItemKind.ACTIVITY_TASK.value:
            failure = Failure(kind="application", message=reason, type="Quarantined")
            try:  # fail the activity for good: its workflow hears why and goes on
                if await self._store.fail_activity(
                    item,
                    failure,
                    FailActivityParams(retry_in=None, dead=True, expired_before=utcnow()),
                ):
                    return 1
            except UNREACHABLE:
                raise
            except Exception:
                _log.debug("failing quarantined item %s failed", item.id, exc_info=True)
        return int(await self._store.quarantine_item(item, reason))


async def reap_once(store: Store, observer: Observer | None = None) -> int:
    """One maintenance pass with a fresh :class:`Reaper`; how many items or runs it moved."""
    return await Reaper(store, observer).pass_once()


async def apply_retry_policy(
    store: Store,
    item: ClaimedItem,
    failure: Failure,
    policy: RetryPolicy,
    extra: Sequence[tuple[EventType, dict[str, Any]]] = (),
    heartbeat_details: list[Any] | None = None,
    expired_before: datetime | None = None,
    observer: Observer | None = None,
) -> bool:
    """Retry ``item`` after a backoff, or record its final failure, as ``policy`` says."""
    observer = guarded(observer) if observer is not None else None
    timed_out = failure.kind == "timeout"
    retryable = policy.is_retryable(
        failure.type, non_retryable=failure.non_retryable
    ) and not timed_out_final(failure)
    exhausted = policy.attempts_exhausted(item.attempt)
    delay: float | None = None
    if retryable and not exhausted:
        delay = _retry_delay(policy, item.attempt, failure.attributes.get("next_retry_delay"))
        if item.deadline_at is not None and utcnow() + timedelta(seconds=delay) >= item.deadline_at:
            delay = None
            exhausted = True
    final_type = EventType.ACTIVITY_TIMED_OUT if timed_out else EventType.ACTIVITY_FAILED
    dead = delay is None and (exhausted or timed_out)
    written = await store.fail_activity(
        item,
        failure,
        FailActivityParams(
            retry_in=delay,
            final_type=final_type,
            dead=dead,
            extra=extra,
            heartbeat_details=heartbeat_details,
            expired_before=expired_before,
        ),
    )
    if written and observer is not None:
        if delay is not None:
            observer.retried(item)
        elif dead:
            observer.dead_lettered(item)
    return written


def _retry_delay(policy: RetryPolicy, attempt: int, hint: Any) -> float:
    """Seconds before the next attempt: the failure's hint, else the policy's backoff;
    never more than LONGEST_RETRY_DELAY, whatever the stored values say."""
    longest = LONGEST_RETRY_DELAY.total_seconds()
    try:
        delay = float(hint) if hint is not None else policy.next_delay(attempt).total_seconds()
    except (OverflowError, ValueError, TypeError):
        return longest
    if math.isnan(delay) or delay > longest:
        return longest
    return max(delay, 0.0)


def timed_out_final(failure: Failure) -> bool:
    """Schedule-to-close timeouts are never retried."""
    return failure.kind == "timeout" and failure.type == TimeoutType.SCHEDULE_TO_CLOSE.value


def timeout_failure(kind: TimeoutType, details: list[Any] | None) -> Failure:
    """The failure of an activity attempt that hit its ``kind`` timeout."""
    return Failure(
        kind="timeout",
        message=f"activity {kind.value.replace('_', '-')} timeout",
        type=kind.value,
        details=list(details or []),
    )
