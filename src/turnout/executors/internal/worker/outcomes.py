"""Recording outcomes: retried while the database is out of reach, never applied twice."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from turnout.contracts.errors import Failure, error_line
from turnout.contracts.retry import RetryPolicy
from turnout.executors.internal.reaper import apply_retry_policy
from turnout.executors.internal.store import ClaimedItem, Store
from turnout.executors.internal.store.core import UNREACHABLE
from turnout.observability._hooks import Observer

__all__ = ["OUTCOME_RETRY_SECONDS", "fail_activity", "persist"]

_log = logging.getLogger("turnout.worker")
T = TypeVar("T")

OUTCOME_RETRY_SECONDS = 60.0
"""How long a worker keeps trying to record an outcome while the database is out of reach."""


async def persist(what: str, write: Callable[[], Awaitable[T]]) -> T:
    """Record an outcome (an activity's, a workflow task's), retrying while the database
    is unreachable (for up to a minute): work is not redone because of a short outage.
    A retry that comes too late is refused by the store's guards, never applied twice."""
    delay, deadline = 0.1, time.monotonic() + OUTCOME_RETRY_SECONDS
    while True:
        try:
            return await write()
        except UNREACHABLE as exc:
            if time.monotonic() + delay > deadline:
                raise
            _log.warning(
                "the database is out of reach for the %s (%s); retrying in %.1fs",
                what,
                error_line(exc),
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def fail_activity(
    store: Store,
    observer: Observer,
    item: ClaimedItem,
    failure: Failure,
    policy: RetryPolicy,
    details: list[Any] | None = None,
) -> None:
    """Record a failed activity attempt: retried, or failed for good, as ``policy`` says."""
    observer.activity_failed(failure)
    await persist(
        f"failure of {item.name}",
        lambda: apply_retry_policy(
            store, item, failure, policy, heartbeat_details=details, observer=observer
        ),
    )
