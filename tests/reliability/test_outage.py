"""A PostgreSQL outage while two worker processes and a client are busy.

The test runs its own PostgreSQL cluster (the session's shared server is never
restarted), two worker processes, and a client in the test that starts 50 workflows,
each with an activity and a timer. Once the workers are busy, the server is restarted
in immediate mode (every connection is cut, the server runs crash recovery) while the
client keeps starting workflows.

The workers must carry on by themselves, and every workflow must complete exactly
once: nothing lost, nothing duplicated. A start during the outage either succeeds or
raises an error that says what happened (a database ``OperationalError``, an
``OSError`` or a turnout error); the client retries those with the same idempotency key,
so a start whose commit succeeded before its connection was cut is not started twice,
and the test counts them. Every start that returned a handle must end in a completed
run.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

import turnout
from turnout import RunState, TurnoutError, activity, workflow
from turnout.executors.internal.schema import events, queue_items, runs
from turnout.executors.internal.store.base import utcnow
from turnout.testing import LocalPostgres

if TYPE_CHECKING:
    from tests.reliability.conftest import CrashWorkerProcess, CrashWorkers

MODULE = __name__
RUNS = 50
RESTART_AFTER = 20
"""Runs started before the restart; the others are started while it happens, and after."""
LEASE = 3.0
"""Workflow-task lease of the workers (seconds): a task whose commit the outage broke is
taken up again once it expires."""
WAIT = 90.0
"""Seconds the whole drain may take before the test fails (a hang, never a timing)."""
START_ERRORS = (OperationalError, OSError, TurnoutError)
"""What a start may raise while the database is unreachable; anything else fails the test."""


@activity.defn
async def outage_touch(key: str) -> str:
    return f"touched {key}"


@workflow.defn
class OutageWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        touched = await workflow.execute_activity(
            outage_touch, key, start_to_close_timeout=timedelta(seconds=60)
        )
        await workflow.sleep(timedelta(seconds=1))
        return touched


class _Client:
    """Starts workflows like an application would: a failed start is retried with the same
    idempotency key, so it never starts a second run."""

    def __init__(self, client: Any, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue
        self.handles: dict[str, Any] = {}
        self.failed: Counter[str] = Counter()

    async def start(self, key: str) -> None:
        async with asyncio.timeout(WAIT):
            while True:
                try:
                    handle = await self.client.start_workflow(
                        OutageWorkflow.run,
                        key,
                        id=key,
                        task_queue=self.task_queue,
                        idempotency_key=key,
                    )
                except START_ERRORS as exc:
                    self.failed[type(exc).__name__] += 1
                    await asyncio.sleep(0.05)
                    continue
                self.handles[key] = handle
                return


async def _read(store: Any, statement: Any) -> list[Any]:
    """Run a read, retried while the database is unreachable."""
    async with asyncio.timeout(WAIT):
        while True:
            try:
                async with store.reader.connect() as conn:
                    return list((await conn.execute(statement)).all())
            except OperationalError:
                await asyncio.sleep(0.1)


async def _until(what: str, condition: Any, workers: list[CrashWorkerProcess]) -> None:
    try:
        async with asyncio.timeout(WAIT):
            while not await condition():
                for worker in workers:
                    assert worker.running, f"{worker!r} exited:\n{worker.output()}"
                await asyncio.sleep(0.05)
    except TimeoutError:
        outputs = "\n".join(f"--- {w!r}\n{w.output()}" for w in workers)
        raise AssertionError(f"{what}: not within {WAIT} s\n{outputs}") from None


@pytest.mark.postgres
async def test_workers_and_clients_ride_out_a_database_restart(
    own_postgres: LocalPostgres, crash_workers: CrashWorkers
) -> None:
    url = own_postgres.admin_url
    queue = f"outage-{uuid.uuid4().hex[:8]}"
    client = await turnout.connect(executor="internal", database_url=url)
    try:
        store = client.store
        workers = [
            await crash_workers(
                database_url=url,
                task_queue=queue,
                modules=[f"{MODULE}:OutageWorkflow", f"{MODULE}:outage_touch"],
                workflow_task_lease=LEASE,
            )
            for _ in range(2)
        ]
        starter = _Client(client, queue)
        keys = [f"{queue}-{i}" for i in range(RUNS)]
        for key in keys[:RESTART_AFTER]:
            await starter.start(key)

        async def working() -> bool:
            done = await _read(
                store, select(func.count()).where(events.c.type == "activity_completed")
            )
            return bool(done[0][0])

        await _until("the workers are busy", working, workers)
        open_runs = await _read(
            store, select(func.count()).where(runs.c.state != RunState.COMPLETED.value)
        )
        assert open_runs[0][0] > 0  # runs are waiting on their timers at least
        restart = asyncio.create_task(asyncio.to_thread(own_postgres.restart, mode="immediate"))
        for key in keys[RESTART_AFTER:]:
            await starter.start(key)
        await restart
        back_up = utcnow()

        async def all_completed() -> bool:
            done = await _read(
                store, select(func.count()).where(runs.c.state == RunState.COMPLETED.value)
            )
            return bool(done[0][0] >= RUNS)

        await _until(f"{RUNS} runs completed", all_completed, workers)

        # Every start that returned a handle ended in a completed run, with its result.
        assert sorted(starter.handles) == sorted(keys)
        for key, handle in starter.handles.items():
            assert await handle.result(timeout=timedelta(seconds=WAIT)) == f"touched {key}"
        # Nothing duplicated: one run per workflow id, one of each completion per run.
        per_id = Counter(r.workflow_id for r in await _read(store, select(runs.c.workflow_id)))
        assert per_id == dict.fromkeys(keys, 1)
        states = Counter(r.state for r in await _read(store, select(runs.c.state)))
        assert states == {RunState.COMPLETED.value: RUNS}
        kinds = ("workflow_completed", "activity_completed", "timer_fired")
        per_run = Counter(
            (r.run_id, r.type)
            for r in await _read(
                store, select(events.c.run_id, events.c.type).where(events.c.type.in_(kinds))
            )
        )
        assert len(per_run) == RUNS * len(kinds)
        assert set(per_run.values()) == {1}, [k for k, n in per_run.items() if n != 1]
        left = await _read(
            store,
            select(queue_items.c.kind, queue_items.c.state).where(
                queue_items.c.state.in_(["queued", "claimed", "running"])
            ),
        )
        assert left == []
        # Both workers carried on by themselves: alive, and each committed workflow tasks
        # once the server was back (every connection they had was cut by the restart).
        after = Counter(
            r.attributes["worker"]
            for r in await _read(
                store,
                select(events.c.attributes).where(
                    events.c.type == "workflow_task_completed", events.c.at > back_up
                ),
            )
        )
        for worker in workers:
            assert worker.running, worker.output()
            assert after[worker.identity] > 0, (after, worker.output())
        print(f"starts retried after an outage error: {dict(starter.failed) or 'none'}")
    finally:
        await client.close()
