"""The worker process of :mod:`turnout.testing.recovery`: its entry point and its
``ready`` line.

It loads the workflows and activities of the given modules, runs a :class:`turnout.Worker`
with a short reaper interval, prints ``ready <identity>`` once it polls, and stops on
SIGTERM or SIGINT. ``python -m turnout.testing.recovery`` runs it by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import uuid
from collections.abc import Sequence
from datetime import timedelta

from turnout._discovery import Definitions, load_definitions

__all__ = ["DEFAULT_REAPER_INTERVAL", "READY", "main"]

READY = "ready"
"""The first word of the line the worker prints once it polls for work."""

DEFAULT_REAPER_INTERVAL = timedelta(milliseconds=200)
"""How often the worker process looks for expired leases and timeouts, by default."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the worker process: ``python -m turnout.testing.recovery``.

    Returns the process exit status: 0 after a clean stop, 2 when the arguments
    or the modules are wrong.
    """
    parser = argparse.ArgumentParser(
        prog="python -m turnout.testing.recovery",
        description="Run a turnout worker (internal executor) until SIGTERM or SIGINT.",
    )
    parser.add_argument(
        "--database-url", help="database to work on (default: TURNOUT_DATABASE_URL)"
    )
    parser.add_argument("--task-queue", required=True, help="task queue to poll")
    parser.add_argument(
        "--module",
        dest="modules",
        action="append",
        required=True,
        metavar="MODULE[:ATTR]",
        help="where to find workflows and activities (repeatable)",
    )
    parser.add_argument("--identity", help="worker identity recorded on the timeline")
    parser.add_argument("--tenant-id", help="tenant the worker acts for")
    parser.add_argument(
        "--reaper-interval",
        type=float,
        default=DEFAULT_REAPER_INTERVAL.total_seconds(),
        metavar="SECONDS",
        help="how often expired leases and timeouts are looked for (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        found = load_definitions(args.modules)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        print(f"error: cannot load {args.modules}: {exc!r}", file=sys.stderr)
        return 2
    if found.ambiguous:
        print(
            f"note: not registered, defined more than once: {', '.join(found.ambiguous)}; "
            "name the one to run as module:attr",
            file=sys.stderr,
        )
    if not found.workflows and not found.activities:
        print(f"error: no workflows or activities found in {args.modules}", file=sys.stderr)
        return 2
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(
        _serve(
            database_url=args.database_url,
            task_queue=args.task_queue,
            found=found,
            identity=args.identity,
            tenant_id=args.tenant_id,
            reaper_interval=timedelta(seconds=args.reaper_interval),
        )
    )
    return 0


async def _serve(
    *,
    database_url: str | None,
    task_queue: str,
    found: Definitions,
    identity: str | None,
    tenant_id: str | None,
    reaper_interval: timedelta,
) -> None:
    import socket

    import turnout

    identity = identity or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await turnout.connect(
        executor="internal", database_url=database_url, tenant_id=tenant_id
    )
    try:
        async with turnout.Worker(
            client,
            task_queue=task_queue,
            workflows=found.workflows,
            activities=found.activities,
            identity=identity,
            reaper_interval=reaper_interval,
        ):
            print(f"{READY} {identity}", flush=True)
            await stop.wait()
    finally:
        await client.close()
