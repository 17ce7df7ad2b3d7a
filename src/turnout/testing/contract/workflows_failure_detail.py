"""An activity that fails, and a workflow that reads the failure it gets (the scenario in
``test_failure_detail.py``)."""

from __future__ import annotations

from datetime import timedelta

from turnout import ActivityError, ApplicationError, RetryPolicy, activity, workflow


def _explode_deep(order: str) -> None:
    raise ApplicationError(f"order {order} cannot be packed", type="PackingError")


@activity.defn
async def pack(order: str) -> str:
    _explode_deep(order)
    return "packed"


@workflow.defn
class Packing:
    @workflow.run
    async def run(self, order: str) -> list[object]:
        try:
            await workflow.execute_activity(
                pack,
                order,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as err:
            cause = err.cause
            failure = cause.failure if isinstance(cause, ApplicationError) else None
            return [
                failure is not None,
                failure.message if failure else None,
                bool(failure and failure.stack_trace and "_explode_deep" in failure.stack_trace),
            ]
        return ["no failure"]


FAILURE_DETAIL_WORKFLOWS: list[type] = [Packing]
FAILURE_DETAIL_ACTIVITIES = [pack]
