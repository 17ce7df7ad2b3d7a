"""A deterministic asyncio event loop for workflow code.

It is stepped by the engine, never run forever: ``call_soon`` queues a
callback, ``call_later`` / ``call_at`` become durable timer commands, ``time()``
is workflow time. ``asyncio.gather``, ``asyncio.wait``, ``asyncio.sleep``,
``asyncio.wait_for`` and task cancellation work unchanged inside workflows,
while nothing touches the real clock or I/O. Its tasks and futures hash by the
order they were made in, so the sets ``asyncio.wait`` returns iterate in the same
order on every replay.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Protocol

from turnout.contracts.limits import check_timer
from turnout.executors.internal.guard import Profile, run_guarded

__all__ = [
    "TimerHost",
    "WorkflowEventLoop",
    "WorkflowFuture",
    "WorkflowTask",
    "WorkflowTimerHandle",
]

_log = logging.getLogger("turnout.engine")


class WorkflowTimerHandle(asyncio.TimerHandle):
    """A timer handle that remembers its durable timer's sequence number."""

    seq: int = 0


class WorkflowTask(asyncio.Task[Any]):
    """A task of workflow code, hashed by the order its loop made it in, not by address:
    a set of tasks (what ``asyncio.wait`` returns) then iterates in the same order on
    every replay of the run."""

    def __init__(
        self,
        coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
        *,
        loop: WorkflowEventLoop,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> None:
        self._made = loop.next_ordinal()  # before the task is hashed into asyncio's registry
        super().__init__(coro, loop=loop, name=name, context=context)

    def __hash__(self) -> int:
        return self._made


class WorkflowFuture(asyncio.Future[Any]):
    """A future of workflow code, hashed like :class:`WorkflowTask`."""

    def __init__(self, *, loop: WorkflowEventLoop) -> None:
        self._made = loop.next_ordinal()
        super().__init__(loop=loop)

    def __hash__(self) -> int:
        return self._made


class TimerHost(Protocol):
    """Who turns the loop's timers into durable timer commands."""

    def start_timer(self, handle: WorkflowTimerHandle, delay: float) -> None: ...
    def cancel_timer(self, handle: WorkflowTimerHandle) -> None: ...
    def now_timestamp(self) -> float: ...
    def on_loop_error(self, context: dict[str, Any]) -> None: ...


class WorkflowEventLoop(asyncio.AbstractEventLoop):
    """The loop workflow coroutines run on; see the module docstring."""

    def __init__(self, host: TimerHost, *, guard: Profile | None = None) -> None:
        self._host = host
        self.guard = guard
        """The determinism guard each callback of workflow code runs under (None: none)."""
        self._ready: deque[asyncio.Handle] = deque()
        self._running = False
        self._tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._ordinals = 0

    # -- stepping ------------------------------------------------------------------
    def step(self) -> None:
        """Run ready callbacks until none is left (they may add more)."""
        previous = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        self._running = True
        try:
            while self._ready:
                handle = self._ready.popleft()
                if not handle._cancelled:
                    run_guarded(self.guard, handle._run)
        finally:
            self._running = False
            asyncio.events._set_running_loop(previous)

    def has_ready(self) -> bool:
        """True when a callback waits to run."""
        return bool(self._ready)

    def fire(self, handle: asyncio.Handle) -> None:
        """Queue a fired timer's callback."""
        self._ready.append(handle)

    # -- scheduling ----------------------------------------------------------------
    def call_soon(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_later(  # type: ignore[override]
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        # A NaN, infinite or over-100-year delay fails the workflow code that asked for it.
        delay = check_timer(delay, "a workflow timer (asyncio.sleep, asyncio.wait_for)")
        if delay <= 0:
            # Nothing to wait for: run on the next step, no durable timer needed.
            handle = WorkflowTimerHandle(self.time(), callback, args, self, context)
            self._ready.append(handle)
            return handle
        handle = WorkflowTimerHandle(self.time() + delay, callback, args, self, context)
        self._host.start_timer(handle, delay)
        return handle

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        return self.call_later(when - self.time(), callback, *args, context=context)

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        if isinstance(handle, WorkflowTimerHandle):
            self._host.cancel_timer(handle)

    def time(self) -> float:
        return self._host.now_timestamp()

    def next_ordinal(self) -> int:
        """A number for the next task or future made on this loop (1, 2, ...)."""
        self._ordinals += 1
        return self._ordinals

    def create_future(self) -> asyncio.Future[Any]:
        return WorkflowFuture(loop=self)

    def create_task(
        self,
        coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[Any]:
        task = WorkflowTask(coro, loop=self, name=name, context=context)
        self._tasks.add(task)
        return task

    def tasks(self) -> list[asyncio.Task[Any]]:
        """The unfinished tasks made through :meth:`create_task` (``asyncio.all_tasks``
        would look through every task of the process). Workflow code that builds an
        ``asyncio.Task`` itself is not among them: disposing the instance leaves such a
        task to the garbage collector, as the loop never steps again."""
        return [t for t in self._tasks if not t.done()]

    # -- state ---------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._running

    def is_closed(self) -> bool:
        return False

    def get_debug(self) -> bool:
        return False

    def get_task_factory(self) -> None:
        return None

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        self._host.on_loop_error(context)

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self._host.on_loop_error(context)

    # -- forbidden in workflows ------------------------------------------------------
    def _forbidden(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "workflow code must be deterministic: no threads, I/O or subprocesses inside a "
            "workflow; do that in an activity"
        )

    call_soon_threadsafe = _forbidden  # type: ignore[assignment]
    run_in_executor = _forbidden  # type: ignore[assignment]
    run_forever = _forbidden
    run_until_complete = _forbidden
    create_connection = _forbidden
    create_server = _forbidden
    getaddrinfo = _forbidden
    subprocess_exec = _forbidden
    subprocess_shell = _forbidden
