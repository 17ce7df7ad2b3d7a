"""A claim storm: many claimers with their own connections drain one queue, nothing twice.

2,000 one-activity workflows are started, then claimers (8 on PostgreSQL, 3 on
SQLite), each with its own store (its own engine and connections), drain them
through the store's domain-level path, as a worker does without the workflow
runtime around it: claim workflow tasks and activities in batches, commit
"schedule the activity", complete the activity, commit "complete the workflow".
That keeps the claim statements themselves the thing under load.

Every claim is logged by its claimer. Afterwards the log and the timelines must
agree that no item was claimed twice, and the tables that nothing was left behind.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select

from turnout.contracts.events import EventType
from turnout.contracts.records import QueueItemKind, QueueItemState
from turnout.contracts.states import RunState
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.migrate import create_schema_async
from turnout.executors.internal.schema import events, queue_items, runs
from turnout.executors.internal.store import (
    ClaimedItem,
    ClaimParams,
    StartParams,
    Store,
    WorkflowTaskCommit,
    open_store,
)
from turnout.executors.internal.store.base import utcnow

RUNS = 200
FAN_OUT = 10
ITEMS = RUNS * FAN_OUT
"""2,000 activity items: 200 workflows that each scheduled 10 activities at once."""
STORM_TIMEOUT = 240.0
"""Seconds the drain may take before the test fails (a hang, never a timing assertion)."""

_WFT = QueueItemKind.WORKFLOW_TASK.value
_ACT = QueueItemKind.ACTIVITY_TASK.value


@pytest.fixture(
    params=[
        pytest.param(("sqlite", 3), id="sqlite-3-claimers"),
        pytest.param(("postgres", 8), id="postgres-8-claimers", marks=pytest.mark.postgres),
    ]
)
def storm_target(request: pytest.FixtureRequest) -> tuple[str, int]:
    """(database URL, number of claimers): one SQLite file, or one PostgreSQL database."""
    kind, claimers = request.param
    fixture = "sqlite_url" if kind == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture)), claimers


@dataclass
class Shared:
    """What the claimers share: the claim log and the runs they closed."""

    log: list[tuple[str, str, int, int]] = field(default_factory=list)
    """(claimer, kind, queue item id, attempt) of every item a claim returned."""
    closed: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)
    """Writes the store refused: none may happen when nothing is claimed twice."""


def _schedule(queue: str, workflow_id: str) -> list[Any]:
    return [
        cmd.ScheduleActivity(
            seq=seq,
            activity_id=str(seq),
            activity_type="work",
            args=[workflow_id, seq],
            task_queue=queue,
            start_to_close_timeout=600.0,
            schedule_to_close_timeout=None,
            heartbeat_timeout=None,
            retry_policy={"maximum_attempts": 1},
        )
        for seq in range(1, FAN_OUT + 1)
    ]


async def _workflow_task(
    store: Store, item: ClaimedItem, queue: str, shared: Shared | None
) -> None:
    """Decide as a fan-out workflow would: schedule its activities, wait for every one of
    them (an empty task while some are missing), then complete with their results."""
    row, history = await store.load_history(item.run_id, 0)
    scheduled = any(e.type is EventType.ACTIVITY_SCHEDULED for e in history)
    results = [e.attributes["result"] for e in history if e.type is EventType.ACTIVITY_COMPLETED]
    commands: list[Any] = []
    if not scheduled:
        commands = _schedule(queue, row.workflow_id)
    elif len(results) == FAN_OUT:
        commands = [cmd.CompleteWorkflow(result=sorted(results))]
    try:
        await store.commit_workflow_task(
            WorkflowTaskCommit(
                item,
                expected_task_count=row.workflow_task_count,
                processed_through=history[-1].seq,
                time=utcnow(),
                commands=commands,
                seen_through=history[-1].seq,
            )
        )
    except Exception as exc:
        if shared is None:
            raise
        shared.refused.append(f"workflow task {item.id} of {item.workflow_id}: {exc!r}")
        return
    if shared is not None and len(results) == FAN_OUT:
        shared.closed.add(item.run_id)


async def _enqueue(store: Store, queue: str) -> list[str]:
    """Start the workflows and run their first workflow tasks (one setup claimer): the
    queue then holds exactly ``ITEMS`` activity items and nothing else."""
    run_ids = []
    for i in range(RUNS):
        started = await store.start_workflow(
            StartParams(
                workflow_id=f"storm-{i}", workflow_type="Storm", task_queue=queue, input=[i]
            )
        )
        run_ids.append(started.run_id)
    first_tasks = 0
    while first_tasks < RUNS:
        items = await store.claim(
            ClaimParams(queue, "setup", workflow_tasks=50, activities=0, workflow_lease=600.0)
        )
        assert items, "a first workflow task is missing"
        for item in items:
            await _workflow_task(store, item, queue, None)
        first_tasks += len(items)
    return run_ids


async def _claimer(store: Store, owner: str, queue: str, shared: Shared) -> None:
    idle = 0.005
    while len(shared.closed) < RUNS:
        items = await store.claim(
            ClaimParams(queue, owner, workflow_tasks=4, activities=8, workflow_lease=600.0)
        )
        if not items:
            await asyncio.sleep(idle)
            idle = min(idle * 2, 0.05)
            continue
        idle = 0.005
        for item in items:
            shared.log.append((owner, item.kind, item.id, item.attempt))
        for item in items:
            if item.kind == _ACT:
                if not await store.complete_activity(item, f"{item.workflow_id}/{item.ref}"):
                    shared.refused.append(f"activity {item.id} of {item.workflow_id}")
            else:
                await _workflow_task(store, item, queue, shared)


async def test_claim_storm_drains_every_item_exactly_once(storm_target: tuple[str, int]) -> None:
    url, claimers = storm_target
    queue = f"storm-{uuid.uuid4().hex[:8]}"
    stores = [open_store(url) for _ in range(claimers + 1)]
    setup, workers = stores[0], stores[1:]
    try:
        await create_schema_async(setup.engine)
        run_ids = await _enqueue(setup, queue)
        assert await _queued(setup, queue) == {_ACT: ITEMS}

        shared = Shared()
        async with asyncio.timeout(STORM_TIMEOUT):
            await asyncio.gather(
                *(_claimer(store, f"claimer-{i}", queue, shared) for i, store in enumerate(workers))
            )

        # The claim log: every (item, attempt) went to exactly one claimer, no write
        # was refused, and every claimer got some of the work (they really raced).
        claims = Counter((item_id, attempt) for _, _, item_id, attempt in shared.log)
        twice = {key: n for key, n in claims.items() if n > 1}
        assert twice == {}, f"claimed more than once: {sorted(twice.items())[:10]}"
        assert shared.refused == [], shared.refused[:10]
        activities = [entry for entry in shared.log if entry[1] == _ACT]
        assert len(activities) == ITEMS
        per_claimer = Counter(owner for owner, _, _, _ in activities)
        assert set(per_claimer) == {f"claimer-{i}" for i in range(claimers)}, per_claimer

        await _assert_nothing_left_behind(setup, queue, run_ids, shared)
    finally:
        for store in stores:
            await store.close()


async def _queued(store: Store, queue: str) -> dict[str, int]:
    async with store.reader.connect() as conn:
        rows = (
            await conn.execute(
                select(queue_items.c.kind, func.count())
                .where(
                    queue_items.c.task_queue == queue,
                    queue_items.c.state == QueueItemState.QUEUED.value,
                )
                .group_by(queue_items.c.kind)
            )
        ).all()
    return {kind: n for kind, n in rows}


async def _assert_nothing_left_behind(
    store: Store, queue: str, run_ids: list[str], shared: Shared
) -> None:
    async with store.reader.connect() as conn:
        item_states = {
            (kind, state): n
            for kind, state, n in (
                await conn.execute(
                    select(queue_items.c.kind, queue_items.c.state, func.count())
                    .where(queue_items.c.task_queue == queue)
                    .group_by(queue_items.c.kind, queue_items.c.state)
                )
            ).all()
        }
        run_states = dict(
            (
                await conn.execute(
                    select(runs.c.state, func.count())
                    .where(runs.c.task_queue == queue)
                    .group_by(runs.c.state)
                )
            ).all()
        )
        rows = (
            await conn.execute(
                select(
                    events.c.run_id,
                    events.c.workflow_id,
                    events.c.seq,
                    events.c.type,
                    events.c.attributes,
                )
                .where(events.c.run_id.in_(run_ids))
                .order_by(events.c.run_id, events.c.seq)
            )
        ).all()
        leased = (
            await conn.execute(
                select(func.count()).where(
                    queue_items.c.task_queue == queue, queue_items.c.lease_owner.is_not(None)
                )
            )
        ).scalar_one()
        results = dict(
            (
                await conn.execute(
                    select(runs.c.run_id, runs.c.result).where(runs.c.task_queue == queue)
                )
            ).all()
        )
    # Every item ended, none still leased, every run completed with all its results. A
    # workflow task queued by the last activity while another task of the run was already
    # closing it is canceled with the run (nothing left for it to do); nothing else is.
    completed = QueueItemState.COMPLETED.value
    canceled = QueueItemState.CANCELED.value
    assert {key for key in item_states if key[1] != completed} <= {(_WFT, canceled)}, item_states
    assert item_states[(_ACT, completed)] == ITEMS
    assert (
        item_states[(_WFT, completed)]
        == sum(1 for _, kind, _, _ in shared.log if kind == _WFT) + RUNS
    )
    assert leased == 0
    assert run_states == {RunState.COMPLETED.value: RUNS}, run_states
    assert shared.closed == set(run_ids)

    by_run: dict[str, list[Any]] = {}
    for row in rows:
        by_run.setdefault(row.run_id, []).append(row)
    assert set(by_run) == set(run_ids)
    claimers = {owner for owner, _, _, _ in shared.log}
    for run_id, timeline in by_run.items():
        types = Counter(EventType(r.type) for r in timeline)
        starts = Counter(
            (r.attributes["activity_seq"], r.attributes["attempt"])
            for r in timeline
            if r.type == EventType.ACTIVITY_STARTED.value
        )
        completions = Counter(
            r.attributes["activity_seq"]
            for r in timeline
            if r.type == EventType.ACTIVITY_COMPLETED.value
        )
        # One start per (activity seq, attempt), one completion per activity, one close,
        # and the run's seqs are 1..n without a gap or a duplicate.
        assert starts == {(seq, 1): 1 for seq in range(1, FAN_OUT + 1)}, (run_id, starts)
        assert completions == {seq: 1 for seq in range(1, FAN_OUT + 1)}, (run_id, completions)
        assert types[EventType.WORKFLOW_COMPLETED] == 1, run_id
        assert [r.seq for r in timeline] == list(range(1, len(timeline) + 1)), run_id
        assert {
            r.attributes["worker"] for r in timeline if r.type == EventType.ACTIVITY_STARTED.value
        } <= claimers
        workflow_id = timeline[0].workflow_id
        assert results[run_id] == sorted(f"{workflow_id}/{seq}" for seq in range(1, FAN_OUT + 1))
