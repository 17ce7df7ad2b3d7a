"""A workflow that waits on a failing activity and a child (``test_pending.py``)."""

from __future__ import annotations

from datetime import timedelta

from turnout import activity, workflow
from turnout.common import RetryPolicy
from turnout.exceptions import ApplicationError


@activity.defn
async def flaky_charge(order: str) -> str:
    """Fails every attempt, naming it."""
    raise ApplicationError(f"card declined for {order} (attempt {activity.info().attempt})")


@workflow.defn
class Waiter:
    """Waits for a signal."""

    def __init__(self) -> None:
        self._go = False

    @workflow.signal
    def go(self) -> None:
        self._go = True

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self._go)
        return "done"


@workflow.defn
class StuckOrder:
    """Starts a child that waits, then retries a failing activity without end."""

    @workflow.run
    async def run(self, order: str) -> str:
        await workflow.start_child_workflow(Waiter.run, id=f"{workflow.info().workflow_id}-child")
        return await workflow.execute_activity(
            flaky_charge,
            order,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                backoff_coefficient=1.0,
                maximum_interval=timedelta(seconds=1),
            ),
        )


PENDING_WORKFLOWS = [StuckOrder, Waiter]
PENDING_ACTIVITIES = [flaky_charge]


@workflow.defn
class Gatekeeper:
    """Accepts an update whose handler waits until the gate opens."""

    def __init__(self) -> None:
        self._open = False

    @workflow.signal
    def open(self) -> None:
        self._open = True

    @workflow.update
    async def hold(self) -> str:
        await workflow.wait_condition(lambda: self._open)
        return "passed"

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self._open)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return "open"


@workflow.defn
class Broken:
    """Its workflow task fails every time (a bug, not a workflow failure)."""

    @workflow.run
    async def run(self) -> str:
        raise RuntimeError("the ledger is missing")


PENDING_WORKFLOWS.extend([Gatekeeper, Broken])
