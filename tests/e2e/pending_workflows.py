"""A payment whose activity fails on every attempt, with a cause, while a child waits: the
run the console's pending panel shows."""

from __future__ import annotations

from datetime import timedelta

from turnout import activity, workflow
from turnout.common import RetryPolicy
from turnout.exceptions import ApplicationError
from turnout.testing.contract.workflows_pending import Waiter


@activity.defn
async def charge_card(order: str) -> str:
    """Fails every attempt: the gateway refuses, because its connection timed out."""
    try:
        raise ConnectionError("gateway.example did not answer within 5 s")
    except ConnectionError as exc:
        raise ApplicationError(f"the payment gateway refused {order}") from exc


@workflow.defn
class DeclinedPayment:
    """Starts a child that waits, then retries :func:`charge_card` every second, 100 times."""

    @workflow.run
    async def run(self, order: str) -> str:
        await workflow.start_child_workflow(Waiter.run, id=f"{workflow.info().workflow_id}-child")
        return await workflow.execute_activity(
            charge_card,
            order,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                backoff_coefficient=1.0,
                maximum_attempts=100,
            ),
        )


WORKFLOWS = [DeclinedPayment, Waiter]
ACTIVITIES = [charge_card]
