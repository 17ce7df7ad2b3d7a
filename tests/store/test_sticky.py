"""Conformance: sticky execution. A run's next workflow task is offered first to the
worker that holds the run cached, to every worker once ``STICKY_SECONDS`` passed or that
worker shut down."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from tests.store.conftest import QUEUE, claim_task, start
from tests.store.test_workflow_tasks import commit, schedule
from turnout.executors.internal.store import ClaimedItem, ClaimParams, EagerClaim, Store
from turnout.executors.internal.store.sql import STICKY_SECONDS, use_clock, utcnow


@pytest.fixture
def clock() -> Iterator[list[datetime]]:
    now = [utcnow()]
    use_clock(lambda: now[0])
    yield now
    use_clock(None)


async def claim_tasks(store: Store, owner: str) -> list[ClaimedItem]:
    return await store.claim(
        ClaimParams(QUEUE, owner, workflow_tasks=5, activities=0, workflow_lease=30)
    )


async def next_task_queued(store: Store, *, sticky: bool) -> str:
    """A run whose first task ``w1`` committed (keeping the run cached when ``sticky``)
    and whose activity completed: its second workflow task is queued."""
    run_id = await start(store)
    await commit(store, await claim_task(store, "w1"), [schedule()], sticky=sticky)
    (act,) = await store.claim(
        ClaimParams(QUEUE, "w1", workflow_tasks=0, activities=1, workflow_lease=30)
    )
    assert await store.complete_activity(act, None)
    return run_id


async def activity_completed_by(store: Store, owner: str) -> tuple[str, EagerClaim]:
    """A run that ``w1`` holds cached, whose activity ``owner`` ran and completed,
    asking to claim the workflow task its result wakes (eager dispatch)."""
    run_id = await start(store)
    await commit(store, await claim_task(store, "w1"), [schedule()], sticky=True)
    (act,) = await store.claim(
        ClaimParams(QUEUE, owner, workflow_tasks=0, activities=1, workflow_lease=30)
    )
    eager = EagerClaim(owner=owner, task_queue=QUEUE, names=frozenset({"Flow"}), limit=5)
    assert await store.complete_activity(act, None, eager=eager)
    return run_id, eager


async def test_the_next_task_goes_to_the_worker_that_holds_the_run(store: Store) -> None:
    run_id = await next_task_queued(store, sticky=True)
    assert await claim_tasks(store, "w2") == []
    (task,) = await claim_tasks(store, "w1")
    assert (task.run_id, task.lease_owner) == (run_id, "w1")


async def test_an_activity_result_from_another_worker_leaves_the_task_to_the_one_that_holds_it(
    store: Store,
) -> None:
    """An eager claim respects stickiness: the worker that completes a run's activity
    does not take the task its result wakes when another worker holds the run cached."""
    run_id, eager = await activity_completed_by(store, "w2")

    assert eager.claimed == []
    assert await claim_tasks(store, "w2") == []
    (task,) = await claim_tasks(store, "w1")
    assert (task.run_id, task.lease_owner) == (run_id, "w1")


async def test_an_activity_result_wakes_a_task_its_own_worker_takes_at_once(store: Store) -> None:
    run_id, eager = await activity_completed_by(store, "w1")

    assert [(t.run_id, t.lease_owner) for t in eager.claimed] == [(run_id, "w1")]


async def test_any_worker_takes_it_once_the_sticky_time_passed(
    store: Store, clock: list[datetime]
) -> None:
    run_id = await next_task_queued(store, sticky=True)
    clock[0] += timedelta(seconds=STICKY_SECONDS - 1)
    assert await claim_tasks(store, "w2") == []
    clock[0] += timedelta(seconds=2)
    (task,) = await claim_tasks(store, "w2")
    assert (task.run_id, task.lease_owner) == (run_id, "w2")


async def test_a_worker_that_caches_nothing_leaves_the_run_to_any_worker(store: Store) -> None:
    run_id = await next_task_queued(store, sticky=False)
    (task,) = await claim_tasks(store, "w2")
    assert task.run_id == run_id


async def test_a_worker_that_shuts_down_hands_its_queued_tasks_to_every_worker(
    store: Store,
) -> None:
    run_id = await next_task_queued(store, sticky=True)
    await store.unstick("w1")
    (task,) = await claim_tasks(store, "w2")
    assert task.run_id == run_id


async def test_a_worker_that_shuts_down_hands_its_runs_to_every_worker(store: Store) -> None:
    run_id = await start(store)
    await commit(store, await claim_task(store, "w1"), [schedule()], sticky=True)
    await store.unstick("w1")
    (act,) = await store.claim(
        ClaimParams(QUEUE, "w3", workflow_tasks=0, activities=1, workflow_lease=30)
    )
    assert await store.complete_activity(act, None)  # the next task names no worker
    (task,) = await claim_tasks(store, "w2")
    assert task.run_id == run_id
