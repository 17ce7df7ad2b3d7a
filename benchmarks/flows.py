"""The workflows and activities the benchmark runs, on every executor.

This module holds definitions only: Temporal's sandbox re-imports it inside
each workflow run, so it imports nothing but turnout and the standard library.
The ``ping`` activity tells the benchmark process that it started, by sending
one UDP datagram to a loopback address: that is how the signal and idle
workloads observe a workflow's reaction, identically on every executor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from turnout import activity, workflow

__all__ = [
    "ACTIVITIES",
    "WORKFLOWS",
    "Echo",
    "FanOut",
    "OneActivity",
    "Pickup",
    "Sequential",
    "noop",
    "ping",
]

_TIMEOUT = timedelta(seconds=120)


@activity.defn
async def noop(value: int) -> int:
    """Return ``value``: an activity that costs nothing, so the executor's overhead shows."""
    return value


@activity.defn
async def ping(address: str, tag: str) -> str:
    """Send ``tag`` as one UDP datagram to ``address`` (``host:port``); return ``tag``."""
    import socket

    host, _, port = address.rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(tag.encode(), (host, int(port)))
    return tag


@workflow.defn
class OneActivity:
    """One activity, then done."""

    @workflow.run
    async def run(self, value: int) -> int:
        """Run ``noop(value)``."""
        result: int = await workflow.execute_activity(noop, value, start_to_close_timeout=_TIMEOUT)
        return result


@workflow.defn
class Sequential:
    """``steps`` activities, one after the other."""

    @workflow.run
    async def run(self, steps: int) -> int:
        """Run ``noop`` ``steps`` times in sequence; return the sum of the results."""
        total = 0
        for step in range(steps):
            total += await workflow.execute_activity(noop, step, start_to_close_timeout=_TIMEOUT)
        return total


@workflow.defn
class FanOut:
    """``width`` activities at once."""

    @workflow.run
    async def run(self, width: int) -> int:
        """Run ``noop`` ``width`` times concurrently; return the sum of the results."""
        results = await asyncio.gather(
            *(
                workflow.execute_activity(noop, i, start_to_close_timeout=_TIMEOUT)
                for i in range(width)
            )
        )
        return sum(results)


@workflow.defn
class Pickup:
    """Pings the benchmark from its first activity: measures pick-up by an idle worker."""

    @workflow.run
    async def run(self, address: str, tag: str) -> str:
        """Run ``ping(address, tag)``."""
        result: str = await workflow.execute_activity(
            ping, args=[address, tag], start_to_close_timeout=_TIMEOUT
        )
        return result


@workflow.defn
class Echo:
    """Answers every ``echo`` signal with a ``ping`` activity, until ``finish``."""

    def __init__(self) -> None:
        self.tags: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, address: str) -> int:
        """Ping ``address`` once per ``echo`` signal; return how many were answered."""
        answered = 0
        while True:
            await workflow.wait_condition(lambda: bool(self.tags) or self.done)
            if not self.tags:
                return answered
            tag = self.tags.pop(0)
            await workflow.execute_activity(
                ping, args=[address, tag], start_to_close_timeout=_TIMEOUT
            )
            answered += 1

    @workflow.signal
    def echo(self, tag: str) -> None:
        """Ask for one ping carrying ``tag``."""
        self.tags.append(tag)

    @workflow.signal
    def finish(self) -> None:
        """End the run once every pending echo is answered."""
        self.done = True


WORKFLOWS: list[type] = [OneActivity, Sequential, FanOut, Pickup, Echo]
"""Every workflow class; a benchmark worker registers them all."""

ACTIVITIES: list[Callable[..., Any]] = [noop, ping]
"""Every activity; a benchmark worker registers them all."""
