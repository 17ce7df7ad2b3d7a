"""A worker in its own process, for crash and multi-process tests.

Usage: python -m tests.worker_process DATABASE_URL TASK_QUEUE [POLL_SECONDS]
Prints "ready" once it claims, runs until SIGTERM/SIGINT (or SIGKILL).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta

import turnout
from tests.workflows_for_tests import ALL_ACTIVITIES, ALL_WORKFLOWS, CrashWorkflow, crashy


async def main(url: str, task_queue: str, poll: float | None) -> None:
    client = await turnout.connect(database_url=url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with turnout.Worker(
        client,
        task_queue=task_queue,
        workflows=[*ALL_WORKFLOWS, CrashWorkflow],
        activities=[*ALL_ACTIVITIES, crashy],
        reaper_interval=timedelta(milliseconds=200),
        poll_interval=timedelta(seconds=poll) if poll else None,
    ):
        print("ready", flush=True)
        await stop.wait()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else None))
