"""A workflow whose first workflow task outlives its worker (the crash test of
``test_task_timeout.py``): a local activity that hangs the first time it runs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from turnout import activity, workflow


@activity.defn
async def hang_once(flag_dir: str) -> str:
    """Hangs the first time (leaving a file behind), returns at once after that."""
    flag = Path(flag_dir) / "hung"
    if flag.exists():
        return "second"
    flag.write_text("hanging")
    await asyncio.sleep(600)
    return "first"


@workflow.defn
class HoldsItsTask:
    @workflow.run
    async def run(self, flag_dir: str) -> str:
        return str(
            await workflow.execute_local_activity(
                hang_once, flag_dir, start_to_close_timeout=timedelta(minutes=15)
            )
        )


RUNS: list[str] = []
"""Each run of ``take_a_while``, by workflow id."""


@activity.defn
async def take_a_while(seconds: float) -> int:
    RUNS.append(activity.info().workflow_id)
    await asyncio.sleep(seconds)
    return len(RUNS)


@workflow.defn
class SlowTask:
    @workflow.run
    async def run(self, seconds: float) -> int:
        return int(
            await workflow.execute_local_activity(
                take_a_while, seconds, start_to_close_timeout=timedelta(minutes=1)
            )
        )
