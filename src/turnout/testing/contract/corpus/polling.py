"""The behaviours of samples-python's ``polling/`` samples: polling inside one long
activity that heartbeats (frequent), polling through the retry policy (infrequent), and
a child workflow that polls with single-attempt activities and timers, continuing as new
to keep its history short (periodic_sequence)."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import timedelta

from turnout import activity, workflow
from turnout.common import RetryPolicy
from turnout.exceptions import ActivityError, ApplicationError
from turnout.testing.contract.corpus.support import (
    COMPLETED,
    STARTED,
    Driver,
    activity_steps,
    start,
    steps,
)
from turnout.testing.harness import ExecutorHarness

_ASKED: Counter[str] = Counter()
_ASKED_LOCK = threading.Lock()


def _service(ready_on: int) -> int:
    """A service that answers the ``ready_on``-th question of each run and fails before;
    returns the question's number (the run is the asking activity's workflow id)."""
    with _ASKED_LOCK:
        _ASKED[activity.info().workflow_id] += 1
        asked = _ASKED[activity.info().workflow_id]
    if asked < ready_on:
        raise ApplicationError(f"not ready at question {asked}")
    return asked


@activity.defn
async def watch_oven(dish: str) -> str:
    """Polls the service itself, heartbeating between two questions."""
    while True:
        try:
            return f"{dish} baked after {_service(ready_on=4)} checks"
        except ApplicationError:
            activity.heartbeat("still baking")
            await asyncio.sleep(0.05)


@activity.defn
async def check_mailbox(owner: str) -> str:
    """Asks once; the retry policy asks again."""
    return f"{owner} has mail (question {_service(ready_on=3)})"


@workflow.defn
class Bakery:
    """Frequent polling: one activity under a heartbeat timeout."""

    @workflow.run
    async def run(self, dish: str) -> str:
        return await workflow.execute_activity(
            watch_oven,
            dish,
            start_to_close_timeout=timedelta(seconds=20),
            heartbeat_timeout=timedelta(seconds=2),
        )


@workflow.defn
class Postbox:
    """Infrequent polling: the retry policy's fixed interval is the polling period."""

    @workflow.run
    async def run(self, owner: str) -> str:
        return await workflow.execute_activity(
            check_mailbox,
            owner,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100), backoff_coefficient=1.0
            ),
        )


@activity.defn
async def ask_supplier(item: str) -> str:
    """Asks once; fails until the fifth question of the run's chain."""
    return f"{item} in stock (question {_service(ready_on=5)})"


@workflow.defn
class StockPoller:
    """Asks up to ``per_run`` times with a timer between, then continues as new."""

    @workflow.run
    async def run(self, item: str, per_run: int) -> str:
        for _ in range(per_run):
            try:
                return await workflow.execute_activity(
                    ask_supplier,
                    item,
                    start_to_close_timeout=timedelta(seconds=5),
                    retry_policy=RetryPolicy(maximum_attempts=1),
                )
            except ActivityError:
                await workflow.sleep(timedelta(milliseconds=50))
        workflow.continue_as_new(args=[item, per_run])


@workflow.defn
class Storefront:
    """Waits on the polling child, whose chain of runs ends with the answer."""

    @workflow.run
    async def run(self, item: str) -> str:
        answer = await workflow.execute_child_workflow(
            StockPoller.run, args=[item, 3], id=f"{workflow.info().workflow_id}-poller"
        )
        return f"storefront: {answer}"


WORKFLOWS = [Bakery, Postbox, StockPoller, Storefront]
ACTIVITIES = [watch_oven, check_mailbox, ask_supplier]


async def frequent(env: ExecutorHarness) -> None:
    handle = await start(env, Bakery.run, "bread")
    assert await handle.result() == "bread baked after 4 checks"
    assert await steps(handle) == [STARTED, *activity_steps("watch_oven"), COMPLETED]


async def infrequent(env: ExecutorHarness) -> None:
    handle = await start(env, Postbox.run, "Rosa")
    assert await handle.result() == "Rosa has mail (question 3)"
    assert await steps(handle) == [
        STARTED,
        ("activity_scheduled", {"activity_type": "check_mailbox"}),
        ("activity_completed", {"activity_type": "check_mailbox", "attempt": 3}),
        COMPLETED,
    ]


async def periodic_sequence(env: ExecutorHarness) -> None:
    handle = await start(env, Storefront.run, "flour")
    assert await handle.result() == "storefront: flour in stock (question 5)"
    first = env.client.get_workflow_handle(f"{handle.id}-poller", run_id=None)
    assert await first.result() == "flour in stock (question 5)"
    assert await steps(handle) == [
        STARTED,
        ("child_workflow_started", {"workflow_type": "StockPoller"}),
        ("child_workflow_completed", {}),
        COMPLETED,
    ]


SCENARIOS: dict[str, Driver] = {
    "polling/frequent": frequent,
    "polling/infrequent": infrequent,
    "polling/periodic_sequence": periodic_sequence,
}
"""The scenarios of this group, by sample."""
