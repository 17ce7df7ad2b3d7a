"""A program written as for temporalio, with only its import root changed: the
workflows and activities of the scenarios in ``test_temporalio_modules.py``."""

from __future__ import annotations

from datetime import timedelta

from turnout import activity, workflow
from turnout.common import RetryPolicy
from turnout.exceptions import ApplicationError


@activity.defn
async def compose_greeting(name: str) -> str:
    if not name:
        raise ApplicationError("a greeting needs a name", type="NoName", non_retryable=True)
    return f"Hello, {name}!"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            compose_greeting,
            name,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=2),
        )


TEMPORALIO_WORKFLOWS: list[type] = [GreetingWorkflow]
TEMPORALIO_ACTIVITIES = [compose_greeting]
