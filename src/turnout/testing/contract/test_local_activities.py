"""Local activities on every executor: run by the workflow's worker, retried there under
their policy, their failures seen as ``ActivityError``, and recorded with the workflow
task (a marker) so that a worker that replays the run reads their outcome back instead
of running them again."""

from __future__ import annotations

import uuid

import pytest

from turnout.replay import replay_run
from turnout.testing.contract.test_contract import until
from turnout.testing.contract.workflows_local_activities import (
    CALLS,
    LOCAL_ACTIVITIES,
    LOCAL_WORKFLOWS,
    Impatient,
    Quote,
)
from turnout.testing.harness import ExecutorHarness
from turnout.testing.timeline import normalize
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


async def test_local_activities_run_retry_fail_and_replay(executor: ExecutorHarness) -> None:
    key = uuid.uuid4().hex[:8]
    task_queue = f"local-{key}"

    def worker(cached: int = 1000) -> Worker:
        return Worker(
            executor.client,
            task_queue=task_queue,
            workflows=LOCAL_WORKFLOWS,
            activities=LOCAL_ACTIVITIES,
            max_cached_workflows=cached,
        )

    async with worker(cached=0):
        handle = await executor.client.start_workflow(
            Quote.run, key, id=f"quote-{key}", task_queue=task_queue
        )

        async def priced() -> bool:
            return any(
                e.attributes.get("marker") == "local_activity"
                and e.attributes.get("activity_type") == "refuse"
                for e in await handle.events()
            )

        await until(priced)
    first = dict(CALLS)
    # Another worker, which has not seen the run, replays it to deliver the signal.
    async with worker():
        await handle.signal(Quote.confirm)
        result = await handle.result()
    assert result == {
        "price": 100 * len(key),
        "rate": {"rate": 2, "is_local": True, "attempt": 3},
        "refused": ["Refused", f"{key}-no", True],
        "again": 100 * len(key),
    }
    assert [first[f"price:{key}"], first[f"rate:{key}"], first[f"refuse:{key}-no"]] == [1, 3, 1]
    # Replay ran none of them again: only the last local activity was new.
    assert [CALLS[f"price:{key}"], CALLS[f"rate:{key}"], CALLS[f"refuse:{key}-no"]] == [2, 3, 1]
    markers = [
        (step, attrs)
        for step, attrs in normalize(await handle.events())
        if step == "marker_recorded"
    ]
    assert markers == [
        ("marker_recorded", {"marker": "local_activity", "activity_type": t})
        for t in ["price_of", "exchange_rate", "refuse", "price_of"]
    ]
    # The recorded run replays with the same code, reading the markers back.
    replayed = await replay_run(executor.client, handle.id, handle.result_run_id, LOCAL_WORKFLOWS)
    assert replayed.deterministic, replayed.summary
    assert CALLS[f"price:{key}"] == 2


async def test_a_local_activity_past_its_timeout(executor: ExecutorHarness) -> None:
    key = uuid.uuid4().hex[:8]
    async with Worker(
        executor.client,
        task_queue=f"local-{key}",
        workflows=LOCAL_WORKFLOWS,
        activities=LOCAL_ACTIVITIES,
    ):
        seen = await executor.client.execute_workflow(
            Impatient.run, id=f"impatient-{key}", task_queue=f"local-{key}"
        )
    assert seen == ["TimeoutError:START_TO_CLOSE"]
