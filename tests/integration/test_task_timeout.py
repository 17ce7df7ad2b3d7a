"""``task_timeout`` on the internal executor: the run's workflow tasks are leased for it,
so a task whose worker died is retried by another worker that soon, instead of after the
worker's default lease (30 s)."""

from __future__ import annotations

import signal
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import turnout
from tests.task_timeout_workflows import RUNS, HoldsItsTask, SlowTask, take_a_while
from turnout import EventType
from turnout.testing import CrashRecovery

ROOT = Path(__file__).resolve().parents[2]


async def test_a_task_whose_worker_died_is_retried_after_the_task_timeout(
    client: Any, database_url: str, tmp_path: Path
) -> None:
    queue = f"held-{uuid.uuid4().hex[:8]}"
    async with CrashRecovery(
        database_url=database_url,
        task_queue=queue,
        modules=["tests.task_timeout_workflows"],
        cwd=ROOT,
    ) as recovery:
        handle = await client.start_workflow(
            HoldsItsTask.run,
            str(tmp_path),
            id=queue,
            task_queue=queue,
            task_timeout=timedelta(seconds=2),
        )
        # The worker holds the workflow task while its local activity hangs.
        await recovery.crash(lambda: (tmp_path / "hung").exists(), timeout=30)
        # Well inside the default 30 s lease: only the run's 2 s task timeout frees it.
        result = await recovery.result(handle, timeout=20)
        crashed, _ = recovery.workers
        assert crashed.returncode == -signal.SIGKILL
    assert result == "second"


async def test_a_worker_keeps_a_task_longer_than_its_task_timeout(client: Any) -> None:
    """The lease is extended while the worker is alive: a second worker never takes the
    task over, however short the task timeout."""
    queue = f"slow-{uuid.uuid4().hex[:8]}"
    options: dict[str, Any] = {
        "task_queue": queue,
        "workflows": [SlowTask],
        "activities": [take_a_while],
        "reaper_interval": timedelta(milliseconds=100),
    }
    async with turnout.Worker(client, **options), turnout.Worker(client, **options):
        handle = await client.start_workflow(
            SlowTask.run, 2.5, id=queue, task_queue=queue, task_timeout=timedelta(seconds=0.6)
        )
        await handle.result(timeout=timedelta(seconds=30))
    assert RUNS.count(queue) == 1
    assert not [e for e in await handle.events() if e.type is EventType.LEASE_EXPIRED]
