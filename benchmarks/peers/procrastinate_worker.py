"""A Procrastinate worker process: ``python -m benchmarks.peers.procrastinate_worker
--database-url URL --task-queue Q``.

It opens a ``procrastinate.App`` on ``URL`` with the benchmark's two activities
as tasks, prints ``READY <pid>`` and runs a worker on queue ``Q`` (``--concurrency``
jobs at once) until SIGTERM or SIGINT, which Procrastinate handles as a graceful
stop. It imports Procrastinate and the standard library only (not turnout).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import socket
import sys
from collections.abc import Sequence
from typing import Any

from procrastinate import App, PsycopgConnector

from benchmarks.peers import names

__all__ = ["build_app", "main", "serve"]

READY = "READY"


def build_app(database_url: str, concurrency: int) -> App:
    """An app on ``database_url`` with the ``noop`` and ``ping`` tasks."""
    # One connection per job in flight, one for LISTEN, one for the heartbeat.
    connector = PsycopgConnector(conninfo=database_url, min_size=1, max_size=concurrency + 2)
    app = App(connector=connector)

    @app.task(name=names.NOOP)
    async def noop(tag: str, value: int) -> int:
        """Return ``value``: a job that costs nothing."""
        return value

    @app.task(name=names.PING)
    async def ping(tag: str, address: str, ping_tag: str) -> str:
        """Send ``ping_tag`` as one UDP datagram to ``address`` (``host:port``)."""
        host, _, port = address.rpartition(":")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(ping_tag.encode(), (host, int(port)))
        return ping_tag

    return app


async def serve(*, database_url: str, task_queue: str, concurrency: int) -> None:
    """Run a worker on ``task_queue`` until SIGTERM/SIGINT."""
    app = build_app(database_url, concurrency)
    async with app.open_async():
        worker: asyncio.Task[Any] = asyncio.create_task(
            app.run_worker_async(queues=[task_queue], concurrency=concurrency, wait=True)
        )
        await asyncio.sleep(0)
        print(f"{READY} {os.getpid()}", flush=True)
        await worker


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peers.procrastinate_worker", description=__doc__
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--profile", help="write cProfile statistics (main thread) to this file")
    args = parser.parse_args(argv)
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    asyncio.run(
        serve(
            database_url=args.database_url,
            task_queue=args.task_queue,
            concurrency=args.concurrency,
        )
    )
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
