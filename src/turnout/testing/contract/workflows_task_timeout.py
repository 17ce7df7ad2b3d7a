"""Workflows that report their ``task_timeout`` (the scenarios in ``test_task_timeout.py``)."""

from __future__ import annotations

from datetime import timedelta

from turnout import workflow


@workflow.defn
class TaskClock:
    """Reports its own task timeout, and its child's, started with ``child_timeout``."""

    @workflow.run
    async def run(self, child_timeout: float) -> list[float | None]:
        mine = workflow.info().task_timeout
        child = await workflow.execute_child_workflow(
            ChildTaskClock.run,
            id=f"{workflow.info().workflow_id}-child",
            task_timeout=timedelta(seconds=child_timeout),
        )
        return [mine.total_seconds() if mine else None, child]


@workflow.defn
class ChildTaskClock:
    @workflow.run
    async def run(self) -> float | None:
        mine = workflow.info().task_timeout
        return mine.total_seconds() if mine else None


TASK_TIMEOUT_WORKFLOWS: list[type] = [TaskClock, ChildTaskClock]
