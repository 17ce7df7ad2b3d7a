"""The workers table of the internal executor: a worker joins when it starts (its queue,
host, process and types), leaves when it stops, and one that died is gone once it has not
been seen for a while; a run whose type no worker of its queue runs says which types they
run; ``turnout workers`` lists them."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import turnout
from turnout.contracts.workers import LIVE_WITHIN
from turnout.executors.internal.store.sql import utcnow
from turnout.testing.contract.workflows_pending import PENDING_WORKFLOWS, Waiter
from turnout.testing.contract.workflows_schedules import SCHEDULE_WORKFLOWS

pytestmark = pytest.mark.asyncio
ROOT = Path(__file__).resolve().parents[2]
TYPES = sorted(cls.__name__ for cls in PENDING_WORKFLOWS)
"""The workflow types a worker of PENDING_WORKFLOWS runs (each named after its class)."""


async def test_workers_join_and_leave_and_a_dead_one_is_gone(client: Any) -> None:
    async with turnout.Worker(client, task_queue="wq", workflows=PENDING_WORKFLOWS):
        (seen,) = await client.workers("wq")
        assert seen.identity.startswith(f"{socket.gethostname()}:{os.getpid()}:")
        assert seen.pid == os.getpid()
        assert seen.workflow_types == TYPES
        assert seen.activity_types == []
        assert await client.workers("elsewhere") == []
        # A worker seen long ago (it died without leaving) is not listed as live.
        stale = seen.model_copy(
            update={"identity": "gone:1", "last_seen_at": utcnow() - 2 * LIVE_WITHIN}
        )
        await client.store.join_worker(client.tenant_id, stale)
        assert [w.identity for w in await client.workers("wq")] == [seen.identity]
        assert await client.store.prune_workers(utcnow() - timedelta(seconds=1)) == 1
    assert await client.workers("wq") == []


async def test_a_run_whose_type_no_worker_runs_names_the_types_they_run(client: Any) -> None:
    handle = await client.start_workflow(Waiter.run, id="unserved", task_queue="typed")
    async with turnout.Worker(client, task_queue="typed", workflows=SCHEDULE_WORKFLOWS):
        reason = (await handle.describe()).stuck_reason
    assert reason == (
        "workflow type 'Waiter' is not registered on any worker polling task queue 'typed' "
        "(they run: Held, Tick)"
    )


async def test_turnout_workers_lists_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env.update(PYTHONPATH=str(ROOT), TURNOUT_DATABASE_URL=url)

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "turnout", *args], env=env, capture_output=True, text=True,
            timeout=60, check=True,
        )  # fmt: skip
        return done.stdout

    client = await turnout.connect(executor="internal", database_url=url)
    try:
        async with turnout.Worker(client, task_queue="listed", workflows=PENDING_WORKFLOWS):
            listed = await asyncio.to_thread(cli, "workers", "--json")
            table = await asyncio.to_thread(cli, "workers", "-q", "listed")
        empty = await asyncio.to_thread(cli, "workers")
    finally:
        await client.close()
    (row,) = [json.loads(line) for line in listed.splitlines()]
    assert row["task_queue"] == "listed"
    assert row["workflow_types"] == TYPES
    assert "listed" in table
    assert "no worker has polled any task queue lately" in empty


async def test_status_shows_idle_workers_and_a_queue_nobody_polls(client: Any) -> None:
    from turnout.cli._output import out
    from turnout.cli._status import render

    await client.start_workflow(Waiter.run, id="orphan", task_queue="nobody")
    async with turnout.Worker(client, task_queue="idle", workflows=SCHEDULE_WORKFLOWS):
        snap = await client.status()
        with out.capture() as captured:
            out.print(render(snap))
    queues = {q.task_queue: q for q in snap.queues}
    assert list(queues["idle"].workers.values()) == [0]  # an idle worker is listed
    assert queues["nobody"].workers == {}
    assert queues["nobody"].depth == 1
    assert "no worker polling" in captured.get()


async def test_a_worker_whose_row_was_pruned_comes_back_at_its_next_heartbeat(client: Any) -> None:
    from turnout.executors.internal.worker.presence import Presence

    presence = Presence(client.store, client.tenant_id, identity="back:1", task_queue="back",
                        workflow_types=["Waiter"], activity_types=[], max_workflow_tasks=1,
                        max_activities=0)  # fmt: skip
    await presence.join()
    await client.store.prune_workers(utcnow() + timedelta(seconds=1))  # pruned while away
    assert await client.workers("back") == []
    presence._next_beat = 0.0  # its next heartbeat is due
    await presence.beat()
    assert [w.identity for w in await client.workers("back")] == ["back:1"]
    await presence.leave()
