"""``handle.fetch_history()``, ``WorkflowHistory`` and ``turnout.worker.Replayer`` on every
executor: a run's history is fetched, written to JSON and read back, and replays with
the code that made it; changed code is refused with NonDeterminismError, as temporalio's
replayer refuses it. Its JSON is Temporal's history JSON on every executor."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from turnout import NonDeterminismError
from turnout.client import WorkflowHistory
from turnout.testing.contract.workflows_replayer import (
    HISTORY_ACTIVITIES,
    HISTORY_WORKFLOWS,
    ChangedRecipe,
    Recipe,
)
from turnout.testing.harness import ExecutorHarness
from turnout.testing.timeline import normalize
from turnout.worker import Replayer, Worker

pytestmark = pytest.mark.asyncio


async def _cooked(executor: ExecutorHarness, task_queue: str, ingredients: list[str]) -> Any:
    handle = await executor.client.start_workflow(
        Recipe.run, ingredients, id=f"recipe-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    await handle.signal(Recipe.serve)
    assert await handle.result() == 10 * sum(map(len, ingredients))
    return handle


async def test_a_history_is_fetched_exported_and_replayed(executor: ExecutorHarness) -> None:
    task_queue = f"history-{uuid.uuid4().hex[:8]}"
    async with Worker(
        executor.client,
        task_queue=task_queue,
        workflows=HISTORY_WORKFLOWS,
        activities=HISTORY_ACTIVITIES,
    ):
        first = await _cooked(executor, task_queue, ["flour", "egg"])
        second = await _cooked(executor, task_queue, ["salt"])
    history = await first.fetch_history()
    assert history.workflow_id == first.id
    assert history.run_id == (await first.describe()).run_id
    assert normalize(history.events) == normalize(await first.events())

    # Written out and read back, as a file would be.
    again = WorkflowHistory.from_json(history.workflow_id, history.to_json())
    assert again.run_id == history.run_id
    result = await Replayer(workflows=[Recipe]).replay_workflow(again)
    assert result.replay_failure is None

    with pytest.raises(NonDeterminismError):
        await Replayer(workflows=[ChangedRecipe]).replay_workflow(again)
    both = [again, await second.fetch_history()]
    results = await Replayer(workflows=[ChangedRecipe]).replay_workflows(
        both, raise_on_replay_failure=False
    )
    assert sorted(results.replay_failures) == sorted(h.run_id for h in both)
    assert all(isinstance(f, NonDeterminismError) for f in results.replay_failures.values())


async def test_a_history_exports_as_temporals_history_json(executor: ExecutorHarness) -> None:
    """``to_json()`` is Temporal's history JSON on every executor: the same event types,
    in the same order, with the payloads temporalio's JSON converter writes."""
    task_queue = f"export-{uuid.uuid4().hex[:8]}"
    handle = await executor.client.start_workflow(
        Recipe.run, ["flour", "egg"], id=f"recipe-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    await handle.signal(Recipe.serve)  # before any worker polls: the order is fixed
    async with Worker(
        executor.client,
        task_queue=task_queue,
        workflows=HISTORY_WORKFLOWS,
        activities=HISTORY_ACTIVITIES,
    ):
        assert await handle.result() == 80
    document = json.loads((await handle.fetch_history()).to_json())
    events = document["events"]
    assert [int(e["eventId"]) for e in events] == list(range(1, len(events) + 1))
    kinds = [e["eventType"].removeprefix("EVENT_TYPE_") for e in events]
    assert [k for k in kinds if not k.startswith("WORKFLOW_TASK_")] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        *["ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_STARTED", "ACTIVITY_TASK_COMPLETED"] * 2,
        "TIMER_STARTED",
        "TIMER_FIRED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    results = [
        e["activityTaskCompletedEventAttributes"]["result"]["payloads"][0] for e in events
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_COMPLETED"
    ]  # fmt: skip
    assert {base64.b64decode(p["metadata"]["encoding"]) for p in results} == {b"json/plain"}
    assert [json.loads(base64.b64decode(p["data"])) for p in results] == [50, 30]
