"""``workflow.wait`` and ``workflow.as_completed``: asyncio's helpers in a fixed order.

``asyncio.wait`` answers with sets, whose iteration order follows the objects' memory
addresses, so code that acts on each finished task in turn may act in another order on
replay. These two keep the caller's order instead, as temporalio's do: ``wait`` returns
lists in the order the awaitables were given, ``as_completed`` yields in the order they
finished (which the history fixes). Both only use the running loop, so they work the same
on every executor; a timeout is a durable timer there.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Iterable, Iterator
from datetime import timedelta
from typing import Any, TypeVar, overload

from turnout.contracts.limits import check_timer

__all__ = ["as_completed", "wait"]

T = TypeVar("T")
FutureT = TypeVar("FutureT", bound="asyncio.Future[Any]")

_RETURN_WHEN = (asyncio.FIRST_COMPLETED, asyncio.FIRST_EXCEPTION, asyncio.ALL_COMPLETED)


def _timeout(timeout: float | timedelta | None, what: str) -> float | None:
    if timeout is None:
        return None
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    return check_timer(seconds, what)


def _refuse_single(fs: Any, what: str) -> None:
    if asyncio.isfuture(fs) or asyncio.iscoroutine(fs):
        raise TypeError(f"{what} takes an iterable of tasks or futures, not {type(fs).__name__}")


@overload
async def wait(
    fs: Iterable[asyncio.Task[T]],
    *,
    timeout: float | timedelta | None = None,
    return_when: str = asyncio.ALL_COMPLETED,
) -> tuple[list[asyncio.Task[T]], list[asyncio.Task[T]]]: ...
@overload
async def wait(
    fs: Iterable[FutureT],
    *,
    timeout: float | timedelta | None = None,
    return_when: str = asyncio.ALL_COMPLETED,
) -> tuple[list[FutureT], list[FutureT]]: ...
async def wait(
    fs: Iterable[Any],
    *,
    timeout: float | timedelta | None = None,
    return_when: str = asyncio.ALL_COMPLETED,
) -> tuple[list[Any], list[Any]]:
    """Wait for the tasks or futures ``fs``, as ``asyncio.wait`` does; returns ``(done,
    pending)`` as lists in the order of ``fs``, so the result is the same on replay.

    ``return_when`` is ``asyncio.FIRST_COMPLETED``, ``FIRST_EXCEPTION`` or
    ``ALL_COMPLETED``; after ``timeout`` (a durable timer) it returns whatever is done
    then, without raising. Nothing is cancelled.
    """
    _refuse_single(fs, "workflow.wait")
    futures = list(fs)
    if not futures:
        raise ValueError("workflow.wait needs at least one task or future")
    if return_when not in _RETURN_WHEN:
        raise ValueError(f"workflow.wait: invalid return_when value {return_when!r}")
    if any(asyncio.iscoroutine(f) for f in futures):
        raise TypeError(
            "workflow.wait takes tasks, not coroutines: wrap each in asyncio.create_task()"
        )
    seconds = _timeout(timeout, "the workflow.wait timeout")
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    remaining = len(futures)

    def settled(future: asyncio.Future[Any]) -> None:
        nonlocal remaining
        remaining -= 1
        failed = not future.cancelled() and future.exception() is not None
        if (
            remaining <= 0
            or return_when == asyncio.FIRST_COMPLETED
            or (return_when == asyncio.FIRST_EXCEPTION and failed)
        ) and not waiter.done():
            waiter.set_result(None)

    def expired() -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = loop.call_later(seconds, expired) if seconds is not None else None
    for future in futures:
        future.add_done_callback(settled)
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()
        for future in futures:
            future.remove_done_callback(settled)
    done = [f for f in futures if f.done()]
    pending = [f for f in futures if not f.done()]
    return done, pending


def as_completed(
    fs: Iterable[Awaitable[T]], *, timeout: float | timedelta | None = None
) -> Iterator[Awaitable[T]]:
    """Iterate over awaitables that give the results of ``fs`` in the order they finish,
    as ``asyncio.as_completed`` does (coroutines are wrapped in tasks in the order given).

    After ``timeout`` (a durable timer) each awaitable not yet answered raises
    ``asyncio.TimeoutError``.
    """
    _refuse_single(fs, "workflow.as_completed")
    seconds = _timeout(timeout, "the workflow.as_completed timeout")
    loop = asyncio.get_running_loop()
    todo: list[asyncio.Future[T]] = [asyncio.ensure_future(f, loop=loop) for f in fs]
    finished: collections.deque[asyncio.Future[T] | None] = collections.deque()
    """Finished futures in order; None stands for one that timed out."""
    wakeups: collections.deque[asyncio.Future[None]] = collections.deque()

    def wake_one() -> None:
        while wakeups:
            waiter = wakeups.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def arrived(future: asyncio.Future[T]) -> None:
        if future not in todo:
            return  # the timeout came first
        todo.remove(future)
        finished.append(future)
        wake_one()
        if not todo and timer is not None:
            timer.cancel()

    def expired() -> None:
        for future in todo:
            future.remove_done_callback(arrived)
            finished.append(None)
            wake_one()
        todo.clear()

    async def next_result() -> T:
        while not finished:
            waiter: asyncio.Future[None] = loop.create_future()
            wakeups.append(waiter)
            await waiter
        future = finished.popleft()
        if future is None:
            raise TimeoutError
        return future.result()

    count = len(todo)
    for future in todo:
        future.add_done_callback(arrived)
    timer = loop.call_later(seconds, expired) if seconds is not None and todo else None
    return (next_result() for _ in range(count))
