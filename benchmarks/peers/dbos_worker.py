"""A DBOS worker process: ``python -m benchmarks.peers.dbos_worker --database-url URL
--task-queue Q``.

It launches a DBOS application on the system database at ``URL`` with the
benchmark's workflows written as DBOS workflows and steps, registers the queue
``Q`` (polled every ``--polling-interval`` seconds), prints ``READY <pid>`` and
runs until SIGTERM or SIGINT. Every worker process has its own executor id, so
DBOS sees ``K`` executors sharing one queue. It imports DBOS and the standard
library only (not turnout), so its memory is DBOS's.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from typing import Any

from dbos import DBOS, DBOSConfig

from benchmarks.peers import names

__all__ = ["main", "serve"]

READY = "READY"
RECV_TIMEOUT = 3600.0


@DBOS.step(name=names.NOOP)
async def noop(value: int) -> int:
    """Return ``value``: a step that costs nothing."""
    return value


@DBOS.step(name=names.PING)
async def ping(address: str, tag: str) -> str:
    """Send ``tag`` as one UDP datagram to ``address`` (``host:port``)."""
    host, _, port = address.rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(tag.encode(), (host, int(port)))
    return tag


@DBOS.workflow(name=names.ONE_ACTIVITY)
async def one_activity(value: int) -> int:
    """One step, then done."""
    return await noop(value)


@DBOS.workflow(name=names.SEQUENTIAL)
async def sequential(steps: int) -> int:
    """``steps`` steps one after the other; the sum of their results."""
    total = 0
    for step in range(steps):
        total += await noop(step)
    return total


@DBOS.workflow(name=names.FAN_OUT)
async def fan_out(width: int) -> int:
    """``width`` steps at once (``asyncio.gather``); the sum of their results."""
    results = await asyncio.gather(*(noop(i) for i in range(width)))
    return sum(results)


@DBOS.workflow(name=names.PICKUP)
async def pickup(address: str, tag: str) -> str:
    """Ping the benchmark from the first step: measures pick-up by an idle worker."""
    return await ping(address, tag)


@DBOS.workflow(name=names.ECHO)
async def echo(address: str) -> int:
    """Answer every ``{"tag": ...}`` message with a ping step, until ``{"finish": true}``."""
    answered = 0
    while True:
        message: Any = await DBOS.recv_async(names.ECHO_TOPIC, timeout_seconds=RECV_TIMEOUT)
        if not message or message.get("finish"):
            return answered
        await ping(address, message["tag"])
        answered += 1


def serve(*, database_url: str, task_queue: str, polling_interval: float) -> None:
    """Launch DBOS, listen to ``task_queue`` until SIGTERM/SIGINT, shut down."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    config: DBOSConfig = {
        "name": names.APPLICATION,
        "system_database_url": database_url,
        "application_version": names.APPLICATION,
        "executor_id": f"bench-{socket.gethostname()}-{os.getpid()}",
        "log_level": "WARNING",
        "run_migrations": False,
    }
    DBOS(config=config)
    DBOS.launch()
    try:
        DBOS.register_queue(task_queue, polling_interval_sec=polling_interval)
        print(f"{READY} {os.getpid()}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        DBOS.destroy()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peers.dbos_worker", description=__doc__
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--polling-interval", type=float, default=1.0)
    parser.add_argument("--profile", help="write cProfile statistics (main thread) to this file")
    args = parser.parse_args(argv)
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    serve(
        database_url=args.database_url,
        task_queue=args.task_queue,
        polling_interval=args.polling_interval,
    )
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
