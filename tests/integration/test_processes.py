"""Several worker processes on one database: crash takeover and a no-double-execution drain."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import workflows_for_tests as wf
from turnout import EventType, RunState

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """A worker running in a child process (``tests.worker_process``)."""

    def __init__(self, url: str, task_queue: str, *, poll: float | None = None) -> None:
        extra = [] if poll is None else [str(poll)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.worker_process", url, task_queue, *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        assert self.proc.stdout is not None
        line = _readline(self.proc, timeout)
        assert line.strip() == "ready", f"worker process did not start: {line!r}"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return "<no output>"
    return proc.stdout.readline()


@pytest.fixture
def processes() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for p in started:
        p.stop(signal.SIGKILL)


async def _until(predicate: Any, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def test_second_process_resumes_after_sigkill_mid_activity(
    client: Any, database_url: str, processes: list[WorkerProcess], tmp_path: Path
) -> None:
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    first = WorkerProcess(database_url, queue)
    processes.append(first)
    first.wait_ready()
    handle = await client.start_workflow(
        wf.CrashWorkflow.run, str(tmp_path), id=f"crash-{uuid.uuid4().hex[:8]}", task_queue=queue
    )
    await _until(lambda: _exists(tmp_path / "attempt-1"))
    first.stop(signal.SIGKILL)  # mid-activity: no chance to release anything

    second = WorkerProcess(database_url, queue)
    processes.append(second)
    second.wait_ready()
    assert await handle.result(timeout=turnout_timeout()) == "done on attempt 2"

    events = await handle.events()
    counts = Counter(e.type for e in events)
    assert counts[EventType.WORKFLOW_COMPLETED] == 1
    assert counts[EventType.ACTIVITY_COMPLETED] == 1
    assert (
        counts[EventType.ACTIVITY_STARTED] == 2
    )  # at least once: the killed attempt and the retry
    expired = [e for e in events if e.type is EventType.LEASE_EXPIRED]
    assert expired
    assert expired[0].attributes["timeout"] == "heartbeat"
    workers = {e.attributes["worker"] for e in events if e.type is EventType.ACTIVITY_STARTED}
    assert len(workers) == 2
    assert (await handle.describe()).state is RunState.COMPLETED


async def _exists(path: Path) -> bool:
    return path.exists()


def turnout_timeout() -> Any:
    from datetime import timedelta

    return timedelta(seconds=60)


async def test_two_processes_drain_500_workflows_without_double_execution(
    client: Any, database_url: str, processes: list[WorkerProcess]
) -> None:
    queue = f"drain-{uuid.uuid4().hex[:8]}"
    n = 500
    handles = [
        await client.start_workflow(
            wf.DrainWorkflow.run, f"k{i}", id=f"{queue}-{i}", task_queue=queue
        )
        for i in range(n)
    ]
    for _ in range(2):
        p = WorkerProcess(database_url, queue)
        processes.append(p)
    for p in processes:
        p.wait_ready()

    async def all_results() -> list[Any]:
        return [await h.result() for h in handles]  # one at a time: the pool stays small

    results = await asyncio.wait_for(all_results(), timeout=240)
    assert results == [f"k{i}" for i in range(n)]

    workers: Counter[str] = Counter()
    for h in handles:
        events = await h.events()
        counts = Counter(e.type for e in events)
        starts = Counter(
            (e.attributes["activity_seq"], e.attributes["attempt"])
            for e in events
            if e.type is EventType.ACTIVITY_STARTED
        )
        # A double claim would start the same attempt twice; a retry after a timeout
        # (legitimate at-least-once under extreme load) starts a new attempt.
        assert max(starts.values()) == 1, [(e.seq, e.type.value, e.attributes) for e in events]
        assert counts[EventType.ACTIVITY_COMPLETED] == 1, h.id
        assert counts[EventType.WORKFLOW_COMPLETED] == 1, h.id
        workers.update(
            e.attributes["worker"] for e in events if e.type is EventType.WORKFLOW_TASK_COMPLETED
        )
    assert len(workers) == 2, f"both processes should have worked: {workers}"
    assert sum(workers.values()) == 2 * n


async def test_sqlite_wakes_an_idle_worker_in_another_process(
    processes: list[WorkerProcess], tmp_path: Path
) -> None:
    """A worker that would look at its queue only once an hour starts the runs another
    process queues: the commit's datagram wakes it."""
    import turnout
    from turnout.executors.internal.store.wakeups import wake_folder

    database = tmp_path / "wake.db"
    url = f"sqlite:///{database.as_posix()}"
    client = await turnout.connect(executor="internal", database_url=url)
    try:
        queue = f"wake-{uuid.uuid4().hex[:8]}"
        worker = WorkerProcess(url, queue, poll=3600)
        processes.append(worker)
        worker.wait_ready()
        folder = wake_folder(str(database))
        assert folder is not None
        [marker] = folder.iterdir()  # the worker's
        for i in range(3):  # the first may be claimed by the worker's first look
            handle = await client.start_workflow(
                wf.HelloWorkflow.run, f"w{i}", id=f"{queue}-{i}", task_queue=queue
            )
            assert await asyncio.wait_for(handle.result(), 20) == f"HELLO, W{i}!"
        worker.stop()
        assert not marker.exists()  # a worker that stops removes its marker
    finally:
        await client.close()
