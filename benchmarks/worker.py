"""A benchmark worker process: ``python -m benchmarks.worker --task-queue Q ...``.

It connects to the executor given on the command line, runs a
``turnout.Worker`` with every benchmark workflow and activity, prints one line
``READY <pid>`` once it polls, and shuts down gracefully on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import signal
import sys
from collections.abc import Sequence

import turnout
from benchmarks import event_loop
from benchmarks.flows import ACTIVITIES, WORKFLOWS

__all__ = ["main", "serve"]

READY = "READY"


async def serve(
    *,
    executor: str,
    task_queue: str,
    database_url: str | None = None,
    temporal_address: str | None = None,
) -> None:
    """Run one worker on ``task_queue`` until SIGTERM/SIGINT."""
    client = await turnout.connect(
        executor=executor,
        database_url=database_url,
        temporal_address=temporal_address,
        create_schema=False,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with turnout.Worker(
            client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES
        ):
            print(f"{READY} {os.getpid()}", flush=True)
            await stop.wait()
    finally:
        await client.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker", description=__doc__)
    parser.add_argument("--executor", choices=["internal", "temporal"], required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--temporal-address")
    parser.add_argument("--profile", help="write cProfile statistics (main thread) to this file")
    args = parser.parse_args(argv)
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    event_loop.run(
        serve(
            executor=args.executor,
            task_queue=args.task_queue,
            database_url=args.database_url,
            temporal_address=args.temporal_address,
        )
    )
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
