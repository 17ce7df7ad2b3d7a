"""Worker processes for test_crashes.py, test_outage.py and test_soak.py.

The kit's :class:`turnout.testing.WorkerProcess` runs a worker with the default
workflow-task lease (30 s), which would make every takeover in these tests wait half
a minute. :class:`CrashWorkerProcess` runs the same kind of child with the lease as
an option, and can call a ``prepare`` hook (``module:function``, given the child's
client and one string) before the worker starts: test_crashes.py uses it to hold a
worker inside a workflow task or a commit. ``finished_item_retention`` (seconds) goes to
the worker when given: the queue chaos suite (chaos_drain.py) has finished queue items
pruned within seconds.

The worker processes are named after those files (``crash_...``) so that other test
modules of this directory can have fixtures of their own. ``own_postgres`` is a
PostgreSQL cluster of one test's own, for tests that stop, pause or restart it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from turnout.testing import WorkerProcess, load_definitions

ROOT = Path(__file__).resolve().parents[2]

_CRASH_CHILD_CODE = (
    "import sys\n"
    "from tests.reliability.conftest import crash_worker_main\n"
    "sys.exit(crash_worker_main(sys.argv[1:]))\n"
)


class CrashWorkerProcess(WorkerProcess):
    """A :class:`WorkerProcess` whose worker takes a workflow-task lease and a prepare hook.

    ``modules`` are ``module`` or ``module:attr`` strings, as for the kit's class; the
    child runs in the repository root so that ``tests.*`` modules import.
    """

    def __init__(
        self,
        *,
        database_url: str,
        task_queue: str,
        modules: Sequence[str],
        workflow_task_lease: float = 30.0,
        reaper_interval: float = 0.2,
        prepare: str | None = None,
        prepare_arg: str = "",
        identity: str | None = None,
        finished_item_retention: float | None = None,
    ) -> None:
        super().__init__(
            database_url=database_url,
            task_queue=task_queue,
            modules=modules,
            identity=identity,
            cwd=ROOT,
            reaper_interval=timedelta(seconds=reaper_interval),
        )
        self._crash_modules = list(modules)
        self._crash_lease = workflow_task_lease
        self._crash_reaper = reaper_interval
        self._crash_prepare = (prepare, prepare_arg)
        self._crash_retention = finished_item_retention

    def _command(self) -> list[str]:
        """The child's command line: :func:`crash_worker_main` instead of the kit's entry point."""
        command = [sys.executable, "-c", _CRASH_CHILD_CODE, "--task-queue", self.task_queue]
        for module in self._crash_modules:
            command += ["--module", module]
        command += ["--identity", self.identity]
        command += ["--workflow-task-lease", str(self._crash_lease)]
        command += ["--reaper-interval", str(self._crash_reaper)]
        prepare, prepare_arg = self._crash_prepare
        if prepare is not None:
            command += ["--prepare", prepare, "--prepare-arg", prepare_arg]
        if self._crash_retention is not None:
            command += ["--finished-item-retention", str(self._crash_retention)]
        return command

    def rss_bytes(self) -> int:
        """The child's resident memory now, from ``/proc/<pid>/status`` (Linux)."""
        status = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                value, unit = line.split()[1:3]
                assert unit == "kB", line
                return int(value) * 1024
        raise AssertionError(f"no VmRSS in /proc/{self.pid}/status")


def crash_worker_main(argv: Sequence[str]) -> int:
    """Entry point of a :class:`CrashWorkerProcess` child; prints ``ready <identity>``."""
    parser = argparse.ArgumentParser(prog="crash-worker")
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--module", dest="modules", action="append", required=True)
    parser.add_argument("--identity", required=True)
    parser.add_argument("--workflow-task-lease", type=float, required=True)
    parser.add_argument("--reaper-interval", type=float, required=True)
    parser.add_argument("--prepare")
    parser.add_argument("--prepare-arg", default="")
    parser.add_argument("--finished-item-retention", type=float)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(_crash_serve(args))
    return 0


async def _crash_serve(args: argparse.Namespace) -> None:
    import turnout

    options: dict[str, Any] = {}
    if args.finished_item_retention is not None:
        options["finished_item_retention"] = timedelta(seconds=args.finished_item_retention)
    found = load_definitions(args.modules)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await turnout.connect(executor="internal")  # TURNOUT_DATABASE_URL
    try:
        if args.prepare:
            module, _, name = args.prepare.partition(":")
            done = getattr(importlib.import_module(module), name)(client, args.prepare_arg)
            if inspect.isawaitable(done):
                await done
        async with turnout.Worker(
            client,
            task_queue=args.task_queue,
            workflows=found.workflows,
            activities=found.activities,
            identity=args.identity,
            workflow_task_lease=timedelta(seconds=args.workflow_task_lease),
            reaper_interval=timedelta(seconds=args.reaper_interval),
            **options,
        ):
            print(f"ready {args.identity}", flush=True)
            await stop.wait()
    finally:
        await client.close()


CrashWorkers = Callable[..., Awaitable[CrashWorkerProcess]]


@pytest.fixture
async def crash_workers() -> AsyncIterator[CrashWorkers]:
    """Start :class:`CrashWorkerProcess` children (keyword arguments of its constructor);
    every one still running at the end of the test is killed."""
    started: list[CrashWorkerProcess] = []

    async def start(**options: Any) -> CrashWorkerProcess:
        worker = CrashWorkerProcess(**options)
        started.append(worker)
        await worker.start(timeout=60)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            await worker.kill()
