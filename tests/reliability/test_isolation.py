"""One poisoned member among 30: it fails alone, visibly, and the other 29 proceed.

Each batched write is tested with 30 items, one of which the database (or the code
around it) cannot take: starts, activity results, workflow-task commits, claims, timer
fires, and the reaper's pass over expired leases and overdue runs. The boundary checks
(test_boundaries.py) refuse such values before they are stored; these tests reach
under them, as a value stored by an older release or edited by hand would, and check
the second line of defence. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

import turnout
from tests.integration.test_workflow_task_batches import _claimed_runs, _commit, _schedule
from turnout import ActivityError, activity, workflow
from turnout.contracts.errors import WorkflowNotFoundError
from turnout.contracts.events import EventType
from turnout.contracts.records import QueueItemState
from turnout.contracts.states import RunState
from turnout.executors.internal.batch import GroupCommit
from turnout.executors.internal.commands import CompleteWorkflow, StartTimer
from turnout.executors.internal.reaper import reap_once
from turnout.executors.internal.schema import queue_items, runs
from turnout.executors.internal.store import (
    ClaimedItem,
    ClaimParams,
    FireTimersParams,
    StartParams,
    Store,
)
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.core import UNREACHABLE, RefusedValueError

N = 30
BAD = 17
"""The index of the poisoned member."""
UNSERIALIZABLE = {"a set": {1, 2}}
"""A value no JSON column takes, on either dialect."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    client = await turnout.connect(executor="internal", database_url=url)
    try:
        yield client.store
    finally:
        await client.close()


def _poisons(store: Store) -> list[Any]:
    """Start inputs the database refuses: NUL only PostgreSQL refuses."""
    poisons: list[Any] = [[UNSERIALIZABLE]]
    if store.url.startswith("postgresql"):
        poisons.append(["NUL \x00 inside"])
    return poisons


async def _state_of(store: Store, item_id: int) -> str:
    async with store.reader.connect() as conn:
        state: str = (
            await conn.execute(select(queue_items.c.state).where(queue_items.c.id == item_id))
        ).scalar_one()
    return state


async def _edit_item(store: Store, item_id: int, **values: Any) -> None:
    """Change a queue item behind the store's back, as an old release or a hand might."""
    async with store.engine.begin() as conn:
        await conn.execute(update(queue_items).where(queue_items.c.id == item_id).values(**values))


def _quarantined(history: list[Any], item_id: int) -> dict[str, Any]:
    (event,) = [
        e
        for e in history
        if e.type is EventType.DEAD_LETTERED and e.attributes.get("queue_item_id") == item_id
    ]
    assert event.attributes["quarantined"] is True
    return dict(event.attributes)


async def test_one_bad_start_among_30_is_refused_alone(store: Store) -> None:
    for poison in _poisons(store):
        queue = f"starts-{len(poison[0])}"
        params = [
            StartParams(
                workflow_id=f"{queue}-{i}", workflow_type="Any", task_queue=queue, input=[i]
            )
            for i in range(N)
        ]
        params[BAD] = dataclasses.replace(params[BAD], input=poison)

        outcomes = await store.start_workflows(params)

        refused = outcomes[BAD]
        assert isinstance(refused, RefusedValueError), refused
        assert f"the start of workflow '{queue}-{BAD}' cannot be stored" in str(refused)
        assert "\n" not in str(refused)
        with pytest.raises(WorkflowNotFoundError):
            await store.find_run("default", f"{queue}-{BAD}")
        for i, outcome in enumerate(outcomes):
            if i != BAD:
                run = await store.find_run("default", f"{queue}-{i}")
                assert run.run_id == outcome.run_id  # type: ignore[union-attr]
                assert run.state is RunState.QUEUED


async def _scheduled_activities(store: Store, queue: str) -> list[ClaimedItem]:
    """``N`` runs, each with one activity queued (its workflow task committed)."""
    tasks = await _claimed_runs(store, queue, N)
    outcomes = await store.commit_workflow_tasks(
        [await _commit(store, t, [_schedule(queue)]) for t in tasks]
    )
    assert all(isinstance(o, range) for o in outcomes), outcomes
    return tasks


async def test_one_bad_result_among_30_fails_alone(store: Store) -> None:
    queue = "results"
    await _scheduled_activities(store, queue)
    acts = await store.claim(
        ClaimParams(queue, "tester", workflow_tasks=0, activities=N, workflow_lease=30)
    )
    assert len(acts) == N
    results = GroupCommit(
        lambda batch: store.complete_activities(batch), name="results", shared=UNREACHABLE
    )
    values: list[Any] = [f"result {i}" for i in range(N)]
    values[BAD] = UNSERIALIZABLE

    outcomes = await asyncio.gather(
        *(results.submit((item, value)) for item, value in zip(acts, values, strict=True)),
        return_exceptions=True,
    )

    assert isinstance(outcomes[BAD], Exception)
    assert [o for i, o in enumerate(outcomes) if i != BAD] == [True] * (N - 1)
    for i, item in enumerate(acts):
        history = await store.events("default", item.run_id)
        done = [e for e in history if e.type is EventType.ACTIVITY_COMPLETED]
        assert [e.attributes["result"] for e in done] == ([] if i == BAD else [values[i]])
    # The bad attempt still holds its lease: its worker fails it (ResultNotStored).
    assert await _state_of(store, acts[BAD].id) == QueueItemState.RUNNING.value


async def test_one_bad_workflow_task_commit_among_30_fails_alone(store: Store) -> None:
    queue = "commits"
    tasks = await _claimed_runs(store, queue, N)
    commits = [
        await _commit(store, t, [CompleteWorkflow(result=f"done {i}")]) for i, t in enumerate(tasks)
    ]
    commits[BAD] = await _commit(store, tasks[BAD], [CompleteWorkflow(result=UNSERIALIZABLE)])

    outcomes = await store.commit_workflow_tasks(commits)

    assert isinstance(outcomes[BAD], Exception)
    for i, task in enumerate(tasks):
        run = await store.find_run("default", task.workflow_id)
        if i == BAD:
            assert run.state is RunState.CLAIMED  # its worker fails the run, saying why
        else:
            assert (run.state, run.result) == (RunState.COMPLETED, f"done {i}")


async def test_one_bad_item_among_30_never_stops_the_claims_of_its_queue(store: Store) -> None:
    queue = "claims"
    await _scheduled_activities(store, queue)
    async with store.reader.connect() as conn:
        ids = list(
            (
                await conn.execute(
                    select(queue_items.c.id)
                    .where(queue_items.c.task_queue == queue, queue_items.c.kind == "activity_task")
                    .order_by(queue_items.c.id)
                )
            ).scalars()
        )
    assert len(ids) == N
    # A timeout no date can hold, and, in another item, a reference the code cannot read.
    huge = {"start_to_close_timeout": 1e300, "activity_id": "1", "retry_policy": {}}
    await _edit_item(store, ids[3], payload=huge)
    await _edit_item(store, ids[BAD], ref="not a number")

    claimed = await store.claim(
        ClaimParams(queue, "tester", workflow_tasks=0, activities=N, workflow_lease=30)
    )

    assert sorted(c.id for c in claimed) == [i for i in ids if i != ids[BAD]]
    capped = next(c for c in claimed if c.id == ids[3])
    assert capped.lease_expires_at is not None
    assert capped.lease_expires_at - utcnow() > timedelta(days=3000)
    assert await _state_of(store, ids[BAD]) == QueueItemState.DEAD.value
    bad_run = next(r for r in await _run_ids(store, queue) if r[1] == ids[BAD])[0]
    history = await store.events("default", bad_run)
    reason = _quarantined(history, ids[BAD])["reason"]
    assert f"claiming queue item {ids[BAD]} failed" in reason
    failed = [e for e in history if e.type is EventType.ACTIVITY_FAILED]
    assert failed[0].attributes["failure"]["cause"]["type"] == "Quarantined"


async def _run_ids(store: Store, queue: str) -> list[tuple[str, int]]:
    async with store.reader.connect() as conn:
        return [
            (r.run_id, r.id)
            for r in await conn.execute(
                select(queue_items.c.run_id, queue_items.c.id).where(
                    queue_items.c.task_queue == queue
                )
            )
        ]


async def test_one_bad_timer_among_30_never_stops_the_others(store: Store) -> None:
    queue = "timers"
    tasks = await _claimed_runs(store, queue, N)
    due = utcnow().isoformat()
    outcomes = await store.commit_workflow_tasks(
        [await _commit(store, t, [StartTimer(seq=1, duration=0.0, fire_at=due)]) for t in tasks]
    )
    assert all(isinstance(o, range) for o in outcomes), outcomes
    timers = {run_id: item_id for run_id, item_id in await _run_ids(store, queue)}
    async with store.reader.connect() as conn:
        timer_ids = dict(
            (
                await conn.execute(
                    select(queue_items.c.run_id, queue_items.c.id).where(
                        queue_items.c.task_queue == queue, queue_items.c.kind == "timer"
                    )
                )
            ).all()
        )
    assert len(timer_ids) == N
    bad_run = tasks[BAD].run_id
    await _edit_item(store, timer_ids[bad_run], ref="not a number")

    fired = await store.fire_timers(FireTimersParams(queue, limit=100, peek=False))

    assert fired == N - 1
    for task in tasks:
        history = await store.events("default", task.run_id)
        types = [e.type for e in history]
        assert (EventType.TIMER_FIRED in types) is (task.run_id != bad_run)
    assert await _state_of(store, timer_ids[bad_run]) == QueueItemState.DEAD.value
    _quarantined(await store.events("default", bad_run), timer_ids[bad_run])
    assert timers  # every run of the queue has its items


async def test_one_bad_expired_item_never_stops_recovery_for_every_tenant(store: Store) -> None:
    """Before: an overflowing retry policy made every reaper pass fail, so no lease was
    recovered and no execution timeout fired, for any tenant."""
    queue = "reaper"
    await _scheduled_activities(store, queue)
    acts = await store.claim(
        ClaimParams(queue, "dead-worker", workflow_tasks=0, activities=N, workflow_lease=30)
    )
    assert len(acts) == N
    past = utcnow() - timedelta(seconds=5)
    for item in acts:  # the worker died: every lease expired
        await _edit_item(store, item.id, lease_expires_at=past)
    overflowing = {**acts[BAD].payload, "retry_policy": {"initial_interval": 1e300}}
    await _edit_item(store, acts[BAD].id, payload=overflowing)
    # And a run of another tenant past its execution timeout.
    other = await store.start_workflow(
        StartParams(workflow_id="overdue", workflow_type="Any", task_queue=queue, input=[],
                    tenant_id="tenant-b")
    )  # fmt: skip
    async with store.engine.begin() as conn:
        await conn.execute(
            update(runs).where(runs.c.run_id == other.run_id).values(execution_deadline=past)
        )

    moved = await reap_once(store)

    assert moved == N + 1
    for i, item in enumerate(acts):
        history = await store.events("default", item.run_id)
        types = [e.type for e in history]
        if i == BAD:  # failed for good, saying why: its workflow hears it and goes on
            (failed,) = [e for e in history if e.type is EventType.ACTIVITY_FAILED]
            cause = failed.attributes["failure"]["cause"]
            assert cause["type"] == "Quarantined"
            assert cause["message"].startswith(
                f"maintenance could not handle queue item {item.id}: ValidationError"
            )
            assert EventType.DEAD_LETTERED in types
            assert await _state_of(store, item.id) == QueueItemState.DEAD.value
        else:
            assert EventType.LEASE_EXPIRED in types
            assert EventType.RETRY_SCHEDULED in types
    assert (await store.find_run("tenant-b", "overdue")).state is RunState.TIMED_OUT


async def test_expired_leases_are_taken_tenant_by_tenant(store: Store) -> None:
    """One tenant's backlog of expired work never keeps another tenant's waiting."""
    past = utcnow() - timedelta(seconds=60)
    for tenant, count in (("tenant-a", 12), ("tenant-b", 1)):
        for i in range(count):
            await store.start_workflow(
                StartParams(workflow_id=f"{tenant}-{i}", workflow_type="Any",
                            task_queue=tenant, input=[], tenant_id=tenant)
            )  # fmt: skip
        claimed = await store.claim(
            ClaimParams(
                tenant, "dead-worker", workflow_tasks=count, activities=0, workflow_lease=30
            )
        )
        for j, item in enumerate(claimed):
            # tenant-a's leases expired earlier than tenant-b's: oldest-first alone would
            # take all of them first.
            when = past - timedelta(seconds=100 - j) if tenant == "tenant-a" else past
            await _edit_item(store, item.id, lease_expires_at=when)

    first = await store.expired_items(limit=4)

    assert "tenant-b" in {item.tenant_id for item in first}
    assert len(first) == 4


@activity.defn
async def isolation_noop() -> str:
    return "ran"


@workflow.defn
class IsolationCatches:
    @workflow.run
    async def run(self) -> str:
        try:
            return str(
                await workflow.execute_activity(
                    isolation_noop, start_to_close_timeout=timedelta(seconds=30)
                )
            )
        except ActivityError as exc:
            return f"failed: {getattr(exc.cause, 'type', None)}"


async def test_an_activity_whose_stored_options_cannot_be_read_fails_alone(store: Store) -> None:
    """A retry policy stored before values were checked (an older release) fails its own
    activity for good, saying why; before, the attempt crashed and waited for its lease."""
    client = await turnout.connect(executor="internal", database_url=store.url)
    try:
        queue = "unreadable"
        async with turnout.Worker(client, task_queue=queue, workflows=[IsolationCatches]):
            handles = [
                await client.start_workflow(
                    IsolationCatches.run, id=f"{queue}-{i}", task_queue=queue
                )
                for i in range(3)
            ]
            async with asyncio.timeout(60):
                while True:
                    acts = [i for _, i in await _run_ids(store, queue)]
                    async with store.reader.connect() as conn:
                        queued = list(
                            (
                                await conn.execute(
                                    select(queue_items.c.id, queue_items.c.payload)
                                    .where(queue_items.c.id.in_(acts))
                                    .where(queue_items.c.kind == "activity_task")
                                    .order_by(queue_items.c.id)
                                )
                            ).all()
                        )
                    if len(queued) == 3:
                        break
                    await asyncio.sleep(0.05)
            bad_id, bad_payload = queued[1]
            await _edit_item(
                store, bad_id, payload={**bad_payload, "retry_policy": {"initial_interval": 1e300}}
            )
            async with turnout.Worker(client, task_queue=queue, activities=[isolation_noop]):
                results = [await h.result(timeout=timedelta(seconds=60)) for h in handles]
        assert results == ["ran", "failed: InvalidOptions", "ran"]
    finally:
        await client.close()
