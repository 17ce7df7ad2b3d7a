"""Time skipping for ``WorkflowEnvironment.start_time_skipping()``, on the internal executor.

The environment has a clock of its own: the machine's time plus an offset that only
grows. Its client and the workers started on it read that clock (the store's
``utcnow``), so durable timers, retries and run timeouts fall due by it. While a test
awaits a workflow's result through the environment's client, the environment watches
the database: when nothing of the tenant is ready or held, it moves its clock on to the
moment the next timer, retry or deadline falls due, so a workflow that sleeps thirty
days finishes at once. Otherwise time passes as usual. ``env.sleep()`` moves the clock
on by its duration.

Each environment has its own clock and its own database, so parallel tests never
share one.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from turnout.executors.internal.store.sql import use_clock

__all__ = ["SkippingClient", "SkippingClock"]

T = TypeVar("T")

_LOOK_EVERY = 0.02
"""Seconds between two looks at the database while a result is awaited."""


class SkippingClock:
    """The machine's time plus an offset that only grows."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self.auto = True
        """Whether awaiting a result skips time (``auto_time_skipping_disabled`` clears it)."""

    def now(self) -> datetime:
        """The environment's current time."""
        return datetime.now(UTC) + self._offset

    def skip(self, by: timedelta) -> None:
        """Move the clock on by ``by`` (never back)."""
        if by > timedelta(0):
            self._offset += by

    def skip_to(self, when: datetime) -> None:
        """Move the clock on to ``when`` if that is ahead."""
        self.skip(when - self.now())

    async def awaiting(self, store: Any, tenant_id: str, outcome: Awaitable[T]) -> T:
        """``outcome``, skipping to whatever falls due next whenever the tenant's queues
        are idle meanwhile."""
        task = asyncio.ensure_future(outcome)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=_LOOK_EVERY)
                if done:
                    return task.result()
                if self.auto:
                    lull = await store.lull(tenant_id)
                    if not lull.busy and lull.until is not None:
                        self.skip_to(lull.until)
        finally:
            if not task.done():
                task.cancel()


class _Clocked:
    """Forwards to ``target``; each coroutine method call first makes ``clock`` the
    time of the calling context (so starts, deadlines and reads use it)."""

    def __init__(self, target: Any, clock: SkippingClock) -> None:
        self._target = target
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not asyncio.iscoroutinefunction(value):
            return value

        @functools.wraps(value)
        async def clocked(*args: Any, **kwargs: Any) -> Any:
            use_clock(self._clock.now)
            return await value(*args, **kwargs)

        return clocked


class SkippingHandle(_Clocked):
    """A workflow handle whose ``result()`` skips time while it waits."""

    def __init__(self, handle: Any, client: SkippingClient) -> None:
        super().__init__(handle, client.skipping)
        self._client = client

    async def result(self, **options: Any) -> Any:
        """The run's result (see the handle's ``result``), skipping time meanwhile."""
        use_clock(self._clock.now)
        return await self._client.awaiting(self._target.result(**options))


class SkippingClient(_Clocked):
    """The environment's client: the internal client, on the environment's clock, whose
    handles skip time while a result is awaited."""

    def __init__(self, client: Any, clock: SkippingClock) -> None:
        super().__init__(client, clock)
        self.skipping = clock
        self.clock: Callable[[], datetime] = clock.now
        """Read by a worker started on this client: its time is the environment's."""

    async def awaiting(self, outcome: Awaitable[T]) -> T:
        """``outcome``, skipping time meanwhile."""
        return await self.skipping.awaiting(self._target.store, self._target.tenant_id, outcome)

    async def start_workflow(self, *args: Any, **kwargs: Any) -> SkippingHandle:
        """Start a run (see the client's ``start_workflow``); its handle skips time."""
        use_clock(self._clock.now)
        return SkippingHandle(await self._target.start_workflow(*args, **kwargs), self)

    async def execute_workflow(self, *args: Any, **kwargs: Any) -> Any:
        """Start a run and await its result, skipping time meanwhile."""
        handle = await self.start_workflow(*args, **kwargs)
        return await handle.result()

    def get_workflow_handle(self, *args: Any, **kwargs: Any) -> SkippingHandle:
        """A handle (see the client's ``get_workflow_handle``) that skips time."""
        return SkippingHandle(self._target.get_workflow_handle(*args, **kwargs), self)

    def get_workflow_handle_for(self, *args: Any, **kwargs: Any) -> SkippingHandle:
        """A typed handle (see the client's ``get_workflow_handle_for``) that skips time."""
        return SkippingHandle(self._target.get_workflow_handle_for(*args, **kwargs), self)
