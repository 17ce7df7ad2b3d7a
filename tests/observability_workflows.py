"""Workflows of the observability tests: a known workload (activities that succeed, fail once,
always fail), importable in Temporal's sandbox."""

from __future__ import annotations

from datetime import timedelta

import turnout
from turnout import ApplicationError, RetryPolicy, activity, workflow


@activity.defn
async def obs_ok(key: str) -> str:
    activity.logger.info("ok %s", key)
    return key


@activity.defn
async def obs_flaky(key: str) -> str:
    """Fails on its first attempt, succeeds on the second."""
    if activity.info().attempt == 1:
        raise ApplicationError("first attempt fails")
    return key


@activity.defn
async def obs_doomed(key: str) -> str:
    raise ApplicationError(f"{key} always fails")


@workflow.defn
class ObservedWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return str(
            await workflow.execute_activity(
                obs_ok, key, start_to_close_timeout=timedelta(seconds=30)
            )
        )


@workflow.defn
class FlakyWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return str(
            await workflow.execute_activity(
                obs_flaky,
                key,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10)),
            )
        )


@workflow.defn
class DoomedWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        try:
            await workflow.execute_activity(
                obs_doomed,
                key,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=10), maximum_attempts=3
                ),
            )
        except turnout.ActivityError:
            return "dead-lettered"
        return "unexpected"


WORKFLOWS = [ObservedWorkflow, FlakyWorkflow, DoomedWorkflow]
ACTIVITIES = [obs_ok, obs_flaky, obs_doomed]
