"""The internal executor suggests continuing as new past its event threshold, and a run
that replays from its start gets the same answers it got the first time."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

import turnout
from turnout import workflow
from turnout.executors.internal import runtime

pytestmark = pytest.mark.asyncio


@workflow.defn
class UntilSuggested:
    @workflow.run
    async def run(self, generation: int) -> list[int]:
        rounds = 0
        while not workflow.info().is_continue_as_new_suggested():
            await workflow.sleep(timedelta(milliseconds=5))
            rounds += 1
        if generation == 0:
            workflow.continue_as_new(args=[1])
        return [generation, rounds, workflow.info().get_current_history_length()]


async def test_continue_as_new_is_suggested_past_the_threshold_and_replays_alike(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "SUGGEST_CONTINUE_AS_NEW_EVENTS", 30)
    queue = f"suggest-{uuid.uuid4().hex[:8]}"
    async with turnout.Worker(
        client, task_queue=queue, workflows=[UntilSuggested], max_cached_workflows=0
    ):
        generation, rounds, length = await client.execute_workflow(
            UntilSuggested.run, 0, id=f"suggest-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
    # The second run starts with a fresh history, so it sleeps again until suggested.
    assert generation == 1
    assert rounds > 0
    assert length > 30
