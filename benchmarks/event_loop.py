"""The event loop of the benchmark's own processes: ``TURNOUT_EVENT_LOOP``, as for
``turnout worker``.

``TURNOUT_EVENT_LOOP=uvloop python -m benchmarks run`` runs the harness's process (the
clients, and DBOS in it) and turnout's worker subprocesses (which inherit the variable) on
uvloop; the peers' own worker processes run as they do. The result records the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from turnout.config import EventLoop, load_settings

__all__ = ["name", "run"]

T = TypeVar("T")


def name() -> str:
    """``asyncio`` or ``uvloop``: the loop this process and its workers run on."""
    return load_settings().event_loop.value


def _factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    if load_settings().event_loop is not EventLoop.UVLOOP:
        return None
    import uvloop

    new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return new_loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` on the configured loop."""
    with asyncio.Runner(loop_factory=_factory()) as runner:
        return runner.run(coro)
