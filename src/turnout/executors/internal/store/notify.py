"""Wake-ups: in-process events, fed by PostgreSQL LISTEN/NOTIFY where available.

Channels are strings: ``q:<task queue>`` (new work), ``r:<run id>`` (a run
closed, or one of its update requests changed: what ``handle.result()`` and an update's
caller wait for; other changes of a run wake nobody), ``k:<task queue>`` (a query
request for the queue's workers) and ``a:<query id>`` (that query was answered).
Waiters always use a timeout, so a lost notification costs one poll interval,
never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

__all__ = ["Notifier", "answer_channel", "query_channel", "queue_channel", "run_channel"]


def queue_channel(task_queue: str) -> str:
    """The channel that announces new work on a task queue."""
    return f"q:{task_queue}"


def run_channel(run_id: str) -> str:
    """The channel that announces that a run closed."""
    return f"r:{run_id}"


def query_channel(task_queue: str) -> str:
    """The channel that announces a query request to a task queue's workers."""
    return f"k:{task_queue}"


def answer_channel(query_id: str) -> str:
    """The channel that announces that a query was answered."""
    return f"a:{query_id}"


class Notifier:
    """Per-process wake-up board shared by a client and the workers built on it."""

    def __init__(self) -> None:
        self._events: dict[str, set[asyncio.Event]] = {}

    def wake(self, channel: str) -> None:
        """Wake every waiter of ``channel``."""
        for event in self._events.get(channel, ()):
            event.set()

    def wake_all(self) -> None:
        """Wake every waiter (after a reconnect, when notifications may have been missed)."""
        for events in self._events.values():
            for event in events:
                event.set()

    @contextlib.contextmanager
    def subscribe(self, *channels: str) -> Iterator[asyncio.Event]:
        """An event set whenever one of ``channels`` is woken, while the block runs."""
        event = asyncio.Event()
        for channel in channels:
            self._events.setdefault(channel, set()).add(event)
        try:
            yield event
        finally:
            for channel in channels:
                waiters = self._events.get(channel)
                if waiters is not None:
                    waiters.discard(event)
                    if not waiters:
                        del self._events[channel]

    async def wait(self, channel: str, timeout: float) -> bool:
        """Wait until ``channel`` is woken or ``timeout`` seconds pass; True when woken."""
        with self.subscribe(channel) as event:
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                return False
            return True
