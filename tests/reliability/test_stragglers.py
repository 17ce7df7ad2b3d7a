"""Stragglers: writes from a worker that lost its lease, or that come after the run closed.

Driven through the store's domain-level API with two worker identities and the
worker's own reaper pass (``reap_once``), so that each interleaving is exact: a lease
is let expire, the reaper hands the work over, the winner finishes, and only then does
the straggler speak. The SQL guards must reject the straggler (and say so in the log),
and the tables must show the winner's work only.

test_terminal_guard.py covers run transitions out of a terminal state and signals,
cancels and terminations after one; this file covers the worker's side: activity
results, failures, heartbeats, artifacts, policy decisions and workflow-task commits.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

import turnout
from turnout import EventType, RetryPolicy, RunState
from turnout.contracts.errors import Failure
from turnout.contracts.records import Artifact, DecisionOutcome, PolicyDecision
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.reaper import reap_once
from turnout.executors.internal.schema import (
    artifacts,
    events,
    policy_decisions,
    queue_items,
    runs,
)
from turnout.executors.internal.store import (
    ClaimedItem,
    ClaimParams,
    FailActivityParams,
    StaleTaskError,
    StartParams,
    Store,
    WorkflowTaskCommit,
)
from turnout.executors.internal.store.base import utcnow

TENANT = "default"
WAIT = 30.0
"""Seconds a bounded wait may take before the test fails (a hang, never a timing)."""
SHORT_LEASE = 0.3
"""Seconds: the leases these tests let expire."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    client = await turnout.connect(
        executor="internal", database_url=str(request.getfixturevalue(fixture))
    )
    try:
        yield client.store
    finally:
        await client.close()


# --------------------------------------------------------------------------- helpers


def _names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"straggle-q-{suffix}", f"straggle-{suffix}"


async def _start(store: Store, queue: str, workflow_id: str) -> str:
    started = await store.start_workflow(
        StartParams(workflow_id=workflow_id, workflow_type="Straggled", task_queue=queue, input=[])
    )
    return started.run_id


async def _commit(store: Store, item: ClaimedItem, *commands: cmd.Command) -> None:
    """Commit ``item`` (a workflow task) as a worker would after replaying the history."""
    row, history = await store.load_history(item.run_id, 0)
    await store.commit_workflow_task(
        WorkflowTaskCommit(
            item,
            expected_task_count=row.workflow_task_count,
            processed_through=history[-1].seq,
            time=history[-1].at,
            commands=list(commands),
        )
    )


def _schedule(queue: str, start_to_close: float) -> cmd.ScheduleActivity:
    return cmd.ScheduleActivity(
        seq=1,
        activity_id="1",
        activity_type="charge",
        args=["order-1"],
        task_queue=queue,
        start_to_close_timeout=start_to_close,
        schedule_to_close_timeout=None,
        heartbeat_timeout=None,
        retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10)).model_dump(
            mode="json"
        ),
    )


async def _claim(store: Store, queue: str, owner: str, *, activities: bool) -> ClaimedItem:
    """Claim one item (an activity or a workflow task) as ``owner``, waiting until one is
    ready (a retry is due after its backoff)."""
    async with asyncio.timeout(WAIT):
        while True:
            claimed = await store.claim(
                ClaimParams(
                    queue,
                    owner,
                    workflow_tasks=0 if activities else 1,
                    activities=1 if activities else 0,
                    workflow_lease=SHORT_LEASE,
                )
            )
            if claimed:
                (item,) = claimed
                return item
            await asyncio.sleep(0.02)


async def _activity_run(store: Store, start_to_close: float) -> tuple[str, str, str]:
    """(queue, run id, workflow id) of a run whose first task scheduled one activity."""
    queue, workflow_id = _names()
    run_id = await _start(store, queue, workflow_id)
    wft = await _claim(store, queue, "scheduler", activities=False)
    await _commit(store, wft, _schedule(queue, start_to_close))
    return queue, run_id, workflow_id


async def _expire(store: Store, item: ClaimedItem) -> None:
    """Let ``item``'s lease run out, then run one reaper pass, which must move it."""
    async with asyncio.timeout(WAIT):
        while utcnow() <= item.lease_expires_at:
            await asyncio.sleep(0.02)
    assert await reap_once(store) >= 1


async def _snapshot(store: Store, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every row about the run, in every table a worker writes to."""
    tables = {
        "runs": runs,
        "events": events,
        "queue_items": queue_items,
        "artifacts": artifacts,
        "policy_decisions": policy_decisions,
    }
    out: dict[str, list[dict[str, Any]]] = {}
    async with store.reader.connect() as conn:
        for name, table in tables.items():
            rows = await conn.execute(
                select(table).where(table.c.run_id == run_id).order_by(*table.primary_key)
            )
            out[name] = [dict(r._mapping) for r in rows]
    return out


def _changes(
    before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]
) -> list[str]:
    """What differs between two snapshots, one line per changed, added or removed row
    (its table, its first column, and each changed column with its old and new value)."""
    out = []
    for table in before:
        old = {next(iter(r.values())): r for r in before[table]}
        new = {next(iter(r.values())): r for r in after[table]}
        for key in old.keys() | new.keys():
            if key not in new or key not in old:
                out.append(f"{table} {key}: {'removed' if key in old else 'added'}")
                continue
            changed = {
                column: f"{value} -> {new[key][column]}"
                for column, value in old[key].items()
                if new[key][column] != value
            }
            if changed:
                out.append(f"{table} {key}: {changed}")
    return out


def _assert_unchanged(
    before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]
) -> None:
    changes = _changes(before, after)
    assert not changes, "rows changed:\n" + "\n".join(changes)


def _of(timeline: list[Any], event_type: EventType) -> list[dict[str, Any]]:
    return [e.attributes for e in timeline if e.type is event_type]


def _rejections(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "turnout.store"
        and r.levelno == logging.WARNING
        and "late result" in r.getMessage()
    ]


# --------------------------------------------------------------------------- lost leases


async def test_a_late_activity_result_loses_to_the_attempt_that_took_over(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    queue, run_id, _ = await _activity_run(store, start_to_close=SHORT_LEASE)
    late = await _claim(store, queue, "worker-a", activities=True)
    await _expire(store, late)  # start-to-close passed: retried under the policy
    winner = await _claim(store, queue, "worker-b", activities=True)
    assert (winner.id, winner.attempt) == (late.id, 2)

    with caplog.at_level(logging.WARNING, logger="turnout.store"):
        # While the winner runs, and after it has finished: the straggler is refused.
        assert not await store.complete_activity(late, "result of worker-a")
        assert await store.complete_activity(winner, "result of worker-b")
        before = await _snapshot(store, run_id)
        assert not await store.complete_activity(late, "result of worker-a")
        assert not await store.fail_activity(
            late,
            Failure(kind="application", message="late failure"),
            FailActivityParams(retry_in=0.0),
        )
        assert not await store.fail_activity(
            late,
            Failure(kind="application", message="late final failure"),
            FailActivityParams(retry_in=None),
        )
        assert await store.heartbeat(late, ["late"], utcnow() + timedelta(seconds=60))  # stop
        _assert_unchanged(before, await _snapshot(store, run_id))

    # Results and final failures (not retries) name the rejected attempt in the log.
    assert len(_rejections(caplog)) == 3, caplog.text
    assert all("attempt 1" in message for message in _rejections(caplog))
    timeline = await store.events(TENANT, run_id)
    done = _of(timeline, EventType.ACTIVITY_COMPLETED)
    assert [(d["result"], d["attempt"]) for d in done] == [("result of worker-b", 2)]
    (expired,) = _of(timeline, EventType.LEASE_EXPIRED)
    assert (expired["worker"], expired["attempt"], expired["timeout"]) == (
        "worker-a",
        1,
        "start_to_close",
    )
    assert [s["worker"] for s in _of(timeline, EventType.ACTIVITY_STARTED)] == [
        "worker-a",
        "worker-b",
    ]


async def test_a_worker_cannot_finish_an_attempt_it_lost_even_after_claiming_the_next(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Same identity, new attempt (a worker that stalled past its lease and then claimed
    the retry itself): the lease owner matches, the attempt does not."""
    queue, run_id, _ = await _activity_run(store, start_to_close=SHORT_LEASE)
    stalled = await _claim(store, queue, "worker-a", activities=True)
    await _expire(store, stalled)
    retry = await _claim(store, queue, "worker-a", activities=True)
    assert (retry.id, retry.lease_owner, retry.attempt) == (stalled.id, "worker-a", 2)

    with caplog.at_level(logging.WARNING, logger="turnout.store"):
        assert not await store.complete_activity(stalled, "from attempt 1")
        assert await store.complete_activity(retry, "from attempt 2")
    assert len(_rejections(caplog)) == 1, caplog.text

    done = _of(await store.events(TENANT, run_id), EventType.ACTIVITY_COMPLETED)
    assert [(d["result"], d["attempt"]) for d in done] == [("from attempt 2", 2)]


async def test_a_late_workflow_task_commit_changes_nothing(store: Store) -> None:
    """A workflow task's lease expires, the reaper requeues it, another worker commits it;
    then the first worker's commit, failure and abandon arrive: all are no-ops."""
    queue, workflow_id = _names()
    run_id = await _start(store, queue, workflow_id)
    late = await _claim(store, queue, "worker-a", activities=False)
    await _expire(store, late)  # adopt-first: back to the queue, not a failure
    winner = await _claim(store, queue, "worker-b", activities=False)
    assert (winner.id, winner.attempt) == (late.id, 2)
    await _commit(store, winner, _schedule(queue, start_to_close=30))

    before = await _snapshot(store, run_id)
    with pytest.raises(StaleTaskError):
        await _commit(store, late, cmd.CompleteWorkflow(result="from worker-a"))
    await store.fail_workflow_task(
        late, Failure(kind="application", message="late failure"), retry_in=0.0
    )
    await store.abandon_workflow_task(late)
    _assert_unchanged(before, await _snapshot(store, run_id))

    timeline = await store.events(TENANT, run_id)
    assert [t["worker"] for t in _of(timeline, EventType.WORKFLOW_TASK_COMPLETED)] == ["worker-b"]
    (expired,) = _of(timeline, EventType.LEASE_EXPIRED)
    assert (expired["kind"], expired["worker"]) == ("workflow_task", "worker-a")
    assert not _of(timeline, EventType.WORKFLOW_COMPLETED)
    assert not _of(timeline, EventType.WORKFLOW_TASK_FAILED)
    run = await store.find_run(TENANT, workflow_id)
    assert run.state is RunState.RUNNING


# --------------------------------------------------------------------------- closed runs


async def _terminated_while_running(store: Store) -> tuple[str, str, str, ClaimedItem]:
    """A run terminated while its activity runs: (queue, run id, workflow id, the
    activity's claim, still held by worker-a)."""
    queue, run_id, workflow_id = await _activity_run(store, start_to_close=60)
    item = await _claim(store, queue, "worker-a", activities=True)
    assert await store.terminate(TENANT, run_id, "ended while its activity ran")
    return queue, run_id, workflow_id, item


async def test_progress_writes_after_the_run_closed_change_nothing(store: Store) -> None:
    """Heartbeats, artifacts and policy decisions of an activity whose run was terminated
    while it ran: the activity is told to stop, and not one row changes."""
    _, run_id, workflow_id, item = await _terminated_while_running(store)
    now = utcnow()
    before = await _snapshot(store, run_id)

    stop = await store.heartbeat(item, [{"progress": 50}], now + timedelta(seconds=60))
    recorded = await store.record_artifact(
        item,
        Artifact(
            artifact_id=uuid.uuid4().hex,
            run_id=run_id,
            workflow_id=workflow_id,
            name="report",
            uri="file:///tmp/report.txt",
            created_at=now,
        ),
    )
    decided = await store.record_policy_decision(
        item,
        PolicyDecision(
            decision_id=uuid.uuid4().hex,
            run_id=run_id,
            workflow_id=workflow_id,
            name="charge",
            outcome=DecisionOutcome.ALLOW,
            decided_by="policy:late",
            decided_at=now,
        ),
    )

    assert stop is True  # the run is over: the activity should stop
    assert recorded is False
    assert decided is False
    _assert_unchanged(before, await _snapshot(store, run_id))


async def test_an_outcome_after_the_run_closed_is_not_recorded_nor_run_again(
    store: Store,
) -> None:
    """A result or a retryable failure of an activity whose run was terminated while it
    ran: the timeline and the run stay as the termination left them, and the activity is
    never handed to a worker again."""
    for outcome in ("result", "retry"):
        queue, run_id, _, item = await _terminated_while_running(store)
        closed = await _snapshot(store, run_id)
        if outcome == "result":
            await store.complete_activity(item, "too late")
        else:
            await store.fail_activity(
                item,
                Failure(kind="application", message="too late"),
                FailActivityParams(retry_in=0.0),
            )
        again = await store.claim(
            ClaimParams(queue, "worker-b", workflow_tasks=10, activities=10, workflow_lease=30)
        )
        assert again == [], outcome
        after = await _snapshot(store, run_id)
        assert after["runs"] == closed["runs"], outcome
        assert after["events"] == closed["events"], outcome
        (row,) = [r for r in after["queue_items"] if r["kind"] == "activity_task"]
        assert row["state"] not in ("queued", "claimed", "running"), (outcome, row)
        run = closed["runs"][0]
        assert run["state"] == RunState.TERMINATED.value
