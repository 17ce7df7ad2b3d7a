"""Workflows that call local activities (the scenarios in ``test_local_activities.py``):
run in the worker that runs the workflow, retried there, recorded with the workflow task
so that replay reads their outcome instead of running them again."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from turnout import activity, workflow
from turnout.common import RetryPolicy
from turnout.exceptions import ActivityError, ApplicationError, TimeoutError

QUICK = timedelta(seconds=10)
FAST_RETRIES = RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=5)

CALLS: Counter[str] = Counter()
"""Attempts of each local activity by key (activities run in the test's process)."""
_calls_lock = threading.Lock()


def _count(key: str) -> int:
    with _calls_lock:
        CALLS[key] += 1
        return CALLS[key]


@activity.defn
async def price_of(item: str) -> int:
    """Async: the price of ``item``, in cents."""
    _count(f"price:{item}")
    return 100 * len(item)


@activity.defn
def exchange_rate(key: str) -> dict[str, Any]:
    """Sync (a thread): fails twice, then answers with what it knows of itself."""
    attempt = _count(f"rate:{key}")
    if attempt < 3:
        raise ApplicationError(f"rate service busy (attempt {attempt})")
    info = activity.info()
    return {"rate": 2, "is_local": info.is_local, "attempt": info.attempt}


@activity.defn
async def refuse(reason: str) -> None:
    """Fails for good."""
    _count(f"refuse:{reason}")
    raise ApplicationError(reason, type="Refused", non_retryable=True)


@workflow.defn
class Quote:
    """Prices an order with local activities, then waits for ``confirm``."""

    def __init__(self) -> None:
        self.confirmed = False

    @workflow.run
    async def run(self, key: str) -> dict[str, Any]:
        price = await workflow.execute_local_activity(price_of, key, start_to_close_timeout=QUICK)
        rate = await workflow.execute_local_activity(
            exchange_rate, key, start_to_close_timeout=QUICK, retry_policy=FAST_RETRIES
        )
        try:
            await workflow.execute_local_activity(
                refuse, f"{key}-no", schedule_to_close_timeout=QUICK
            )
            refused: list[Any] = []
        except ApplicationError as err:  # as on Temporal: the failure itself, no ActivityError
            refused = [err.type, err.message, err.non_retryable]
        # A new workflow task: a worker that lost the run replays the ones above.
        await workflow.wait_condition(lambda: self.confirmed)
        again = await workflow.execute_local_activity(price_of, key, start_to_close_timeout=QUICK)
        return {"price": price, "rate": rate, "refused": refused, "again": again}

    @workflow.signal
    def confirm(self) -> None:
        self.confirmed = True


LOCAL_WORKFLOWS: list[type] = [Quote]
LOCAL_ACTIVITIES: list[Callable[..., Any]] = [price_of, exchange_rate, refuse]


@activity.defn
async def dawdle(seconds: float) -> str:
    """Takes ``seconds``, past its start-to-close timeout."""
    await asyncio.sleep(seconds)
    return "late"


@workflow.defn
class Impatient:
    """A local activity that runs past its timeout."""

    @workflow.run
    async def run(self) -> list[str]:
        seen = []
        try:
            await workflow.execute_local_activity(
                dawdle,
                30.0,
                start_to_close_timeout=timedelta(milliseconds=300),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as err:  # as on Temporal: a timeout comes inside one
            cause = err.cause
            kind = cause.type.name if isinstance(cause, TimeoutError) and cause.type else "?"
            seen.append(f"{type(cause).__name__}:{kind}")
        return seen


LOCAL_WORKFLOWS.append(Impatient)
LOCAL_ACTIVITIES.append(dawdle)
