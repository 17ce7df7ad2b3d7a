"""turnout.testing's crash-and-recover kit: a worker process SIGKILLed mid-activity, a fresh one
finishing the run, on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests import workflows_for_tests as wf
from turnout import EventType, RunState
from turnout.testing import (
    CrashRecovery,
    WorkerProcessError,
    crash_and_recover,
    load_definitions,
)

ROOT = Path(__file__).resolve().parents[2]


def _names(prefix: str) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"{prefix}-q-{suffix}", f"{prefix}-wf-{suffix}"


async def test_run_survives_sigkill_of_its_worker_mid_activity(
    client: Any, database_url: str, tmp_path: Path
) -> None:
    queue, workflow_id = _names("recovery")
    async with CrashRecovery(
        database_url=database_url,
        task_queue=queue,
        modules=["tests.workflows_for_tests"],
        cwd=ROOT,
    ) as recovery:
        handle = await client.start_workflow(
            wf.CrashWorkflow.run, str(tmp_path), id=workflow_id, task_queue=queue
        )
        await recovery.crash(EventType.ACTIVITY_STARTED, handle=handle, timeout=30)
        result = await recovery.result(handle, timeout=60)
        crashed, recovered = recovery.workers
        assert crashed.returncode == -signal.SIGKILL
        assert recovered.running

    assert result == "done on attempt 2"
    assert not recovered.running, "leaving the block stops the fresh worker too"
    assert (tmp_path / "attempt-2").exists()

    events = await handle.events()
    counts = Counter(e.type for e in events)
    assert counts[EventType.WORKFLOW_COMPLETED] == 1
    assert counts[EventType.ACTIVITY_COMPLETED] == 1
    expired = [e for e in events if e.type is EventType.LEASE_EXPIRED]
    assert expired, "the killed worker's lease must expire"
    assert expired[0].attributes["worker"] == crashed.identity
    started_by = [e.attributes["worker"] for e in events if e.type is EventType.ACTIVITY_STARTED]
    assert started_by == [crashed.identity, recovered.identity]
    assert (await handle.describe()).state is RunState.COMPLETED


async def test_crash_and_recover_in_one_call(
    client: Any, database_url: str, tmp_path: Path
) -> None:
    queue, workflow_id = _names("one-call")
    handle = await client.start_workflow(
        wf.CrashWorkflow.run, str(tmp_path), id=workflow_id, task_queue=queue
    )
    result = await crash_and_recover(
        handle,
        when=lambda: (tmp_path / "attempt-1").exists(),  # the activity is running
        database_url=database_url,
        task_queue=queue,
        workflows=[wf.CrashWorkflow],
        activities=[wf.crashy],
        cwd=ROOT,
        crash_timeout=30,
        result_timeout=60,
    )
    assert result == "done on attempt 2"
    workers = {
        e.attributes["worker"]
        for e in await handle.events()
        if e.type is EventType.ACTIVITY_STARTED
    }
    assert len(workers) == 2


async def test_every_worker_process_is_gone_after_a_failed_wait(
    sqlite_url: str, tmp_path: Path
) -> None:
    queue, _ = _names("cleanup")
    with pytest.raises(TimeoutError, match="did not hold within"):
        async with CrashRecovery(
            database_url=sqlite_url,
            task_queue=queue,
            modules=["tests.workflows_for_tests:CrashWorkflow", "tests.workflows_for_tests:crashy"],
            cwd=ROOT,
        ) as recovery:
            await recovery.crash(lambda: False, timeout=0.5)
    (only,) = recovery.workers
    assert only.returncode == -signal.SIGKILL


async def test_a_worker_that_cannot_load_its_modules_says_why(sqlite_url: str) -> None:
    with pytest.raises(WorkerProcessError, match="no_such_module"):
        async with CrashRecovery(
            database_url=sqlite_url, task_queue="q", modules=["tests.no_such_module"], cwd=ROOT
        ):
            pass


def test_load_definitions_finds_decorated_objects_and_leaves_out_ambiguous_names() -> None:
    found = load_definitions(["tests.workflows_for_tests"])
    assert wf.CrashWorkflow in found.workflows
    assert wf.crashy in found.activities
    assert found.ambiguous == ("workflow 'DeterminismWorkflow'",)
    assert not any("Determinism" in w.__name__ for w in found.workflows)

    picked = load_definitions(
        ["tests.workflows_for_tests", "tests.workflows_for_tests:DeterminismWorkflowPatched"]
    )
    assert wf.DeterminismWorkflowPatched in picked.workflows
    assert picked.ambiguous == ()

    only = load_definitions(["tests.workflows_for_tests:ALL_ACTIVITIES"])
    assert only.workflows == ()
    assert only.activities == tuple(wf.ALL_ACTIVITIES)

    with pytest.raises(TypeError, match="neither"):
        load_definitions(["tests.workflows_for_tests:IN_FLIGHT"])
