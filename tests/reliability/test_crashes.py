"""A worker process killed with SIGKILL mid-activity, mid-workflow-task and mid-commit.

Each test runs its workflows on a worker in a child process, waits until that worker
is exactly where the crash should land, kills it, and lets a second worker take over
once the dead worker's lease has expired. Every run must then complete exactly once:
one ``workflow_completed`` event and one completed run per workflow id, one
``activity_completed`` per activity, every activity run at least once (and an
activity that completed before the crash never again), and the takeover visible on
the timeline as ``lease_expired``.

How each crash is placed, deterministically:

- mid-activity: the first attempt of the activity blocks until its worker is killed;
- mid-workflow-task: the workflow code blocks, in the crashing worker only (a hook
  that worker runs at start arms it), until the worker is killed;
- mid-commit: the crashing worker holds the commit of the workflow task until the
  test says go. The test first takes a lock that commit needs (PostgreSQL: the run's
  row ``FOR UPDATE``; SQLite: the database's write lock, ``BEGIN IMMEDIATE``), then
  says go, waits until the worker is blocked inside the commit (PostgreSQL:
  ``pg_blocking_pids`` names the test's connection for the worker's ``UPDATE
  turnout_runs``; SQLite: the worker has entered the commit, which cannot take the
  write lock), kills it and releases the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select, text

import turnout
from turnout import EventType, RetryPolicy, RunState, activity, workflow
from turnout.executors.internal.schema import events, queue_items, runs

if TYPE_CHECKING:
    from tests.reliability.conftest import CrashWorkerProcess, CrashWorkers

MODULE = __name__
LEASE = 2.0
"""Workflow-task lease of the workers here (seconds): a takeover waits about this long."""
BLOCK_TIMEOUT = timedelta(seconds=6)
"""Start-to-close timeout of the activity that blocks: the dead worker's lease on it. The
killed worker would time the attempt out itself after this long, so the test must kill it
sooner; it does so as soon as the attempt has started."""
STEP_TIMEOUT = timedelta(seconds=30)
"""Start-to-close timeout of the activities that do not block."""
HOLD_LIMIT = 90.0
"""Seconds a held worker waits at most (the test kills it long before)."""
WAIT = 60.0
"""Seconds any single wait of a test may take before it fails (a hang, not a timing)."""


# --------------------------------------------------------------------------- workflows


def _record(marker_dir: str, key: str) -> None:
    """Append one line per execution of an activity, from whichever process runs it."""
    with open(Path(marker_dir) / f"ran-{key}", "a", encoding="ascii") as out:
        out.write(f"{os.getpid()} {activity.info().attempt}\n")


def _executions(marker_dir: Path, key: str) -> list[tuple[int, int]]:
    """(pid, attempt) of every execution of the activity recorded under ``key``."""
    path = marker_dir / f"ran-{key}"
    if not path.exists():
        return []
    lines = path.read_text(encoding="ascii").split()
    return [(int(pid), int(attempt)) for pid, attempt in zip(lines[::2], lines[1::2], strict=True)]


@activity.defn
async def crash_step(marker_dir: str, key: str) -> str:
    _record(marker_dir, key)
    return f"step {key}"


@activity.defn
async def crash_block(marker_dir: str, key: str) -> str:
    """The first attempt blocks until its worker process is killed."""
    _record(marker_dir, key)
    attempt = activity.info().attempt
    if attempt == 1:
        await asyncio.sleep(HOLD_LIMIT)
    return f"{key} on attempt {attempt}"


@workflow.defn
class CrashActivityWorkflow:
    @workflow.run
    async def run(self, marker_dir: str, key: str) -> str:
        before = await workflow.execute_activity(
            crash_step, args=[marker_dir, f"{key}-before"], start_to_close_timeout=STEP_TIMEOUT
        )
        blocked = await workflow.execute_activity(
            crash_block,
            args=[marker_dir, key],
            start_to_close_timeout=BLOCK_TIMEOUT,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )
        return f"{before} / {blocked}"


_HOLDS: dict[str, Path] = {}
"""Set by a prepare hook in the worker process that is to crash; empty everywhere else."""


def _hold_in_workflow_code(key: str) -> None:
    where = _HOLDS.get("workflow")
    if where is None:  # the test process, and the worker that takes over
        return
    # Deliberately not deterministic: the determinism guard lets it through only here.
    with workflow.unsafe.sandbox_unrestricted():
        (where / f"in-task-{key}").touch()
        deadline = time.monotonic() + HOLD_LIMIT
        while time.monotonic() < deadline:  # blocks the worker's loop; SIGKILL ends it
            time.sleep(0.02)


@workflow.defn
class CrashTaskWorkflow:
    """Its second workflow task (after the first activity) is where the crashes land."""

    @workflow.run
    async def run(self, marker_dir: str, key: str) -> list[str]:
        first = await workflow.execute_activity(
            crash_step, args=[marker_dir, f"{key}-1"], start_to_close_timeout=STEP_TIMEOUT
        )
        _hold_in_workflow_code(key)
        second = await workflow.execute_activity(
            crash_step, args=[marker_dir, f"{key}-2"], start_to_close_timeout=STEP_TIMEOUT
        )
        return [first, second]


def hold_workflow_code(client: Any, directory: str) -> None:
    """Prepare hook: block inside the second workflow task of every CrashTaskWorkflow."""
    _HOLDS["workflow"] = Path(directory)


def hold_commits(client: Any, directory: str) -> None:
    """Prepare hook: hold the commit of every run's second workflow task until a ``go``
    file exists in ``directory``; write ``held-<run>`` when it starts waiting and
    ``committing-<run>`` just before the commit's transaction begins."""
    store = client.store
    commit = store.commit_workflow_tasks
    where = Path(directory)

    async def held_commits(commits: Any) -> Any:
        second = [c.item.run_id for c in commits if c.expected_task_count == 1]
        if second:
            for run_id in second:
                (where / f"held-{run_id}").touch()
            async with asyncio.timeout(HOLD_LIMIT):
                while not (where / "go").exists():
                    await asyncio.sleep(0.01)
            for run_id in second:
                (where / f"committing-{run_id}").touch()
        return await commit(commits)

    store.commit_workflow_tasks = held_commits


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[Any]:
    c = await turnout.connect(executor="internal", database_url=database_url)
    try:
        yield c
    finally:
        await c.close()


# --------------------------------------------------------------------------- helpers


def _queue() -> str:
    return f"crash-{uuid.uuid4().hex[:8]}"


async def _start_worker(
    crash_workers: CrashWorkers, database_url: str, queue: str, **options: Any
) -> CrashWorkerProcess:
    return await crash_workers(
        database_url=database_url,
        task_queue=queue,
        modules=[MODULE],
        workflow_task_lease=LEASE,
        **options,
    )


async def _until(
    what: str, condition: Callable[[], bool | Awaitable[bool]], worker: CrashWorkerProcess
) -> None:
    """Poll ``condition`` until it holds; fail at once if ``worker`` exits meanwhile."""
    try:
        async with asyncio.timeout(WAIT):
            while True:
                assert worker.running, f"{worker!r} exited before {what}:\n{worker.output()}"
                value = condition()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {WAIT} s\n{worker.output()}") from None


async def _result(handle: Any, worker: CrashWorkerProcess) -> Any:
    try:
        return await handle.result(timeout=timedelta(seconds=WAIT))
    except TimeoutError:
        raise AssertionError(
            f"{handle.id} did not complete; {worker!r}:\n{worker.output()}"
        ) from None


async def _kill(worker: CrashWorkerProcess) -> None:
    await worker.kill()
    assert worker.returncode == -signal.SIGKILL


async def _workflow_task(store: Any, run_id: str) -> Any:
    """The run's workflow task that is leased (claimed or running), or None."""
    async with store.reader.connect() as conn:
        return (
            await conn.execute(
                select(queue_items).where(
                    queue_items.c.run_id == run_id,
                    queue_items.c.kind == "workflow_task",
                    queue_items.c.state.in_(["claimed", "running"]),
                )
            )
        ).one_or_none()


async def _assert_exactly_once(store: Any, workflow_ids: list[str]) -> None:
    """Across the whole database: one completed run per workflow id, one completion event
    per run and per activity, and nothing left queued or leased."""
    async with store.reader.connect() as conn:
        per_id = dict(
            (
                await conn.execute(
                    select(runs.c.workflow_id, func.count()).group_by(runs.c.workflow_id)
                )
            ).all()
        )
        states = Counter((await conn.execute(select(runs.c.state))).scalars())
        completed = Counter(
            (
                await conn.execute(
                    select(events.c.run_id).where(events.c.type == "workflow_completed")
                )
            ).scalars()
        )
        activity_done = Counter(
            (r.run_id, r.attributes["activity_seq"])
            for r in await conn.execute(
                select(events.c.run_id, events.c.attributes).where(
                    events.c.type == "activity_completed"
                )
            )
        )
        left = (
            await conn.execute(
                select(queue_items.c.kind, queue_items.c.state).where(
                    queue_items.c.state.in_(["queued", "claimed", "running"])
                )
            )
        ).all()
    assert per_id == dict.fromkeys(workflow_ids, 1)
    assert states == {RunState.COMPLETED.value: len(workflow_ids)}
    assert set(completed.values()) == {1}
    assert len(completed) == len(workflow_ids)
    assert set(activity_done.values()) == {1}, activity_done
    assert left == []


@contextlib.asynccontextmanager
async def _lock_for_commit(store: Any, run_id: str) -> AsyncIterator[int | None]:
    """Hold a lock a workflow task's commit needs, on a connection of its own; yields
    that connection's backend pid on PostgreSQL. Released (rolled back) on exit."""
    async with store.engine.connect() as conn:
        tx = await conn.begin()  # SQLite: BEGIN IMMEDIATE, the database's write lock
        try:
            backend = None
            if store.dialect == "postgresql":
                await conn.execute(
                    text("SELECT run_id FROM turnout_runs WHERE run_id = :run_id FOR UPDATE"),
                    {"run_id": run_id},
                )
                backend = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            yield backend
        finally:
            await tx.rollback()


async def _blocked_by(store: Any, holder: int) -> list[str]:
    """The statements of PostgreSQL backends waiting for a lock ``holder`` holds."""
    async with store.reader.connect() as conn:
        return list(
            (
                await conn.execute(
                    text(
                        "SELECT query FROM pg_stat_activity "
                        "WHERE CAST(:holder AS integer) = ANY(pg_blocking_pids(pid))"
                    ),
                    {"holder": holder},
                )
            ).scalars()
        )


def _by_seq(timeline: list[Any], event_type: EventType) -> Counter[int]:
    return Counter(e.attributes["activity_seq"] for e in timeline if e.type is event_type)


# --------------------------------------------------------------------------- tests


async def test_a_worker_killed_mid_activity(
    client: Any, database_url: str, crash_workers: CrashWorkers, tmp_path: Path
) -> None:
    """Three runs, each blocked in its second activity when the worker dies: that activity
    runs again on the second worker after its start-to-close lease expires; the first
    activity, completed before the crash, is never run again."""
    queue, keys = _queue(), ["a0", "a1", "a2"]
    first = await _start_worker(crash_workers, database_url, queue)
    handles = [
        await client.start_workflow(
            CrashActivityWorkflow.run,
            args=[str(tmp_path), key],
            id=f"{queue}-{key}",
            task_queue=queue,
        )
        for key in keys
    ]
    await _until(
        "every blocking activity started",
        lambda: all(_executions(tmp_path, key) for key in keys),
        first,
    )
    await _kill(first)
    second = await _start_worker(crash_workers, database_url, queue)

    for key, handle in zip(keys, handles, strict=True):
        assert await _result(handle, second) == f"step {key}-before / {key} on attempt 2"
        assert _executions(tmp_path, f"{key}-before") == [(first.pid, 1)]
        assert _executions(tmp_path, key) == [(first.pid, 1), (second.pid, 2)]
        timeline = await handle.events()
        assert _by_seq(timeline, EventType.ACTIVITY_COMPLETED) == {1: 1, 2: 1}
        expired = [e.attributes for e in timeline if e.type is EventType.LEASE_EXPIRED]
        assert len(expired) == 1, expired
        assert expired[0]["kind"] == "activity_task"
        assert expired[0]["worker"] == first.identity
        assert expired[0]["timeout"] == "start_to_close"  # no heartbeat: the lease ran out
        started = [
            e.attributes["worker"]
            for e in timeline
            if e.type is EventType.ACTIVITY_STARTED and e.attributes["activity_seq"] == 2
        ]
        assert started == [first.identity, second.identity]
    await _assert_exactly_once(client.store, [h.id for h in handles])


async def test_a_worker_killed_mid_workflow_task(
    client: Any, database_url: str, crash_workers: CrashWorkers, tmp_path: Path
) -> None:
    """The worker dies while its workflow code runs: the task's lease expires, the second
    worker replays the history (the completed activity is not run again) and goes on."""
    queue, hold = _queue(), tmp_path / "hold"
    hold.mkdir()
    first = await _start_worker(
        crash_workers,
        database_url,
        queue,
        prepare=f"{MODULE}:hold_workflow_code",
        prepare_arg=str(hold),
    )
    handle = await client.start_workflow(
        CrashTaskWorkflow.run, args=[str(tmp_path), "t"], id=f"{queue}-t", task_queue=queue
    )
    await _until("the workflow code is held", (hold / "in-task-t").exists, first)
    task = await _workflow_task(client.store, handle.result_run_id)
    assert task is not None
    assert task.lease_owner == first.identity
    await _kill(first)
    done_by_first = [
        e for e in await handle.events() if e.type is EventType.WORKFLOW_TASK_COMPLETED
    ]
    assert len(done_by_first) == 1  # the first task only: the held one never committed

    second = await _start_worker(crash_workers, database_url, queue)
    assert await _result(handle, second) == ["step t-1", "step t-2"]
    assert _executions(tmp_path, "t-1") == [(first.pid, 1)]  # replayed, not run again
    assert _executions(tmp_path, "t-2") == [(second.pid, 1)]
    timeline = await handle.events()
    expired = [e.attributes for e in timeline if e.type is EventType.LEASE_EXPIRED]
    assert [(x["kind"], x["worker"], x["queue_item_id"]) for x in expired] == [
        ("workflow_task", first.identity, task.id)
    ]
    tasks_by = Counter(
        e.attributes["worker"] for e in timeline if e.type is EventType.WORKFLOW_TASK_COMPLETED
    )
    assert tasks_by == {first.identity: 1, second.identity: 2}
    assert _by_seq(timeline, EventType.ACTIVITY_COMPLETED) == {1: 1, 2: 1}
    await _assert_exactly_once(client.store, [handle.id])


async def test_a_worker_killed_mid_commit(
    client: Any, database_url: str, crash_workers: CrashWorkers, tmp_path: Path
) -> None:
    """The worker dies inside the transaction that commits a workflow task: nothing of
    that commit is applied, and the second worker redoes the task exactly once."""
    store = client.store
    queue, hold = _queue(), tmp_path / "hold"
    hold.mkdir()
    first = await _start_worker(
        crash_workers, database_url, queue, prepare=f"{MODULE}:hold_commits", prepare_arg=str(hold)
    )
    handle = await client.start_workflow(
        CrashTaskWorkflow.run, args=[str(tmp_path), "c"], id=f"{queue}-c", task_queue=queue
    )
    run_id = handle.result_run_id
    await _until("the commit is held", (hold / f"held-{run_id}").exists, first)
    task = await _workflow_task(store, run_id)
    assert task is not None
    assert task.lease_owner == first.identity

    async with _lock_for_commit(store, run_id) as holder:
        (hold / "go").touch()
        await _until("the commit began", (hold / f"committing-{run_id}").exists, first)
        if holder is not None:  # PostgreSQL: see the commit's statement wait for the lock
            blocked: list[str] = []

            async def commit_waits() -> bool:
                blocked[:] = await _blocked_by(store, holder)
                return bool(blocked)

            await _until("the commit waits for the run's row lock", commit_waits, first)
            (statement,) = blocked
            assert statement.startswith("UPDATE turnout_runs")
            assert "workflow_task_count" in statement  # the commit's guarded run update
        await _kill(first)

    # Nothing of the killed commit is visible: the task is still leased by the dead
    # worker, and the activity it was scheduling does not exist.
    task_after = await _workflow_task(store, run_id)
    assert task_after is not None
    assert (task_after.id, task_after.lease_owner) == (task.id, first.identity)
    timeline = await handle.events()
    assert _by_seq(timeline, EventType.ACTIVITY_SCHEDULED) == {1: 1}
    assert (await handle.describe()).state is RunState.RUNNING

    second = await _start_worker(crash_workers, database_url, queue)
    assert await _result(handle, second) == ["step c-1", "step c-2"]
    assert _executions(tmp_path, "c-1") == [(first.pid, 1)]
    assert _executions(tmp_path, "c-2") == [(second.pid, 1)]
    timeline = await handle.events()
    expired = [e.attributes for e in timeline if e.type is EventType.LEASE_EXPIRED]
    assert [(x["kind"], x["worker"], x["queue_item_id"]) for x in expired] == [
        ("workflow_task", first.identity, task.id)
    ]
    assert _by_seq(timeline, EventType.ACTIVITY_SCHEDULED) == {1: 1, 2: 1}
    assert _by_seq(timeline, EventType.ACTIVITY_COMPLETED) == {1: 1, 2: 1}
    async with store.reader.connect() as conn:
        activity_items = (
            await conn.execute(
                select(queue_items.c.ref).where(
                    queue_items.c.run_id == run_id, queue_items.c.kind == "activity_task"
                )
            )
        ).scalars()
        assert sorted(activity_items) == ["1", "2"]  # the redone commit scheduled it once
    await _assert_exactly_once(store, [handle.id])
