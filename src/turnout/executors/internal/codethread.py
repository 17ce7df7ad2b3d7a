"""Workflow code on a thread of its own, watched for code that never yields.

Workflow code is synchronous between two awaits; a loop that never awaits would
freeze whatever thread runs it. So a worker runs each activation of workflow code on
a :class:`CodeThread`, while its own event loop (claims, leases, heartbeats, health)
goes on. An activation that makes no progress for ``timeout`` seconds is a deadlock,
as Temporal's deadlock detector has it: the caller gets a :class:`DeadlockError` that
names where the code was (``FILE:LINE``), the thread is retired, a fresh one serves
the next activations, and the retired thread is interrupted (an exception raised in
it at its next bytecode). Code that swallows that exception, or sits in a C call,
keeps its thread: :attr:`CodeThread.stuck` counts those, and health reports them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import os
import queue
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import FrameType
from typing import Any, Generic, TypeVar

__all__ = ["CodeThread", "DeadlockError", "DeadlockInterrupt", "positive_seconds"]

T = TypeVar("T")

_OWN_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
"""turnout's package directory: frames there are the engine's, not the workflow's."""
_STDLIB_DIR = os.path.abspath(sysconfig.get_paths()["stdlib"])
"""Python's own modules (threading, asyncio, ...): the place to name is the caller's."""


class DeadlockError(RuntimeError):
    """Workflow code ran ``timeout`` seconds without yielding (the task fails, the run
    stays open and is retried with backoff)."""

    def __init__(self, seconds: float, location: str) -> None:
        self.seconds = seconds
        self.location = location
        super().__init__(
            f"workflow code ran {seconds:g} s without yielding at {location}; a loop in "
            "workflow code must await (workflow.sleep, workflow.wait_condition, an activity) "
            "or move its work into an activity"
        )


class DeadlockInterrupt(BaseException):
    """Raised inside workflow code that a watchdog gave up on, to free its thread."""


@dataclass(eq=False)
class _Job(Generic[T]):
    fn: Callable[[], T]
    context: contextvars.Context
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[T]
    progress: Callable[[], float] | None
    started: float | None = None
    thread_id: int | None = None
    finished: bool = False
    abandoned: bool = False
    after_abandon: list[Callable[[], object]] = field(default_factory=list)

    def last_progress(self) -> float | None:
        if self.started is None:
            return None
        beat = self.progress() if self.progress is not None else 0.0
        return max(self.started, beat)


class CodeThread:
    """Runs workflow activations one at a time on a thread, with a deadlock watchdog.

    ``timeout``: seconds an activation may go without progress (None: never a
    deadlock; the code still runs off the event loop).
    """

    def __init__(self, *, timeout: float | None = 2.0, name: str = "turnout-workflow") -> None:
        if timeout is not None and not timeout > 0:
            raise ValueError(f"the deadlock timeout must be positive, got {timeout}")
        self.timeout = timeout
        self._name = name
        self._jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._generation = 0
        self._threads: list[threading.Thread] = []
        self._retired: list[threading.Thread] = []
        self.deadlocks = 0
        """Activations given up on since this thread started."""
        self.last_deadlock: str | None = None
        """The last deadlock's message."""
        self._closed = False
        self._running: _Job[Any] | None = None
        """The activation the serving thread runs now (the watchdog looks at it)."""
        self._watchdog: asyncio.Task[None] | None = None
        self._settled: list[tuple[asyncio.Future[Any], tuple[bool, Any]]] = []
        """Outcomes the serving thread finished, waiting for the loop to hand them over
        (one wake-up of the loop for all that finish together)."""

    # -- what health reads -----------------------------------------------------------
    @property
    def stuck(self) -> int:
        """Retired threads still running code that ignored the interrupt."""
        self._retired = [t for t in self._retired if t.is_alive()]
        return len(self._retired)

    # -- running -----------------------------------------------------------------------
    async def run(
        self,
        fn: Callable[[], T],
        *,
        progress: Callable[[], float] | None = None,
        after_abandon: Callable[[], object] | None = None,
    ) -> T:
        """``fn()`` on the code thread; its result, or its exception.

        ``progress`` returns the ``time.monotonic()`` of the code's last sign of
        progress (an activation beginning, say); the watchdog counts from the later of
        that and the job's start. ``after_abandon`` runs on the retired thread once the
        code it gave up on returns (to dispose what it left behind).
        """
        if self._closed:
            raise RuntimeError("the workflow code thread is closed")
        loop = asyncio.get_running_loop()
        job: _Job[T] = _Job(fn, contextvars.copy_context(), loop, loop.create_future(), progress)
        if after_abandon is not None:
            job.after_abandon.append(after_abandon)
        if not self._threads:
            self._spawn()
        if self.timeout is not None and (self._watchdog is None or self._watchdog.done()):
            self._watchdog = loop.create_task(self._watch(), name="turnout-deadlock-watchdog")
        self._jobs.put(job)
        return await job.done

    def close(self) -> None:
        """Let the serving thread end once the queued activations ran."""
        self._closed = True
        for _ in self._threads:
            self._jobs.put(None)
        self._threads = []
        if self._watchdog is not None:
            self._watchdog.cancel()

    async def _watch(self) -> None:
        """Look at the running activation a few times a second; give up on one that made
        no progress for ``timeout`` seconds (its caller gets the DeadlockError)."""
        assert self.timeout is not None
        tick = min(self.timeout / 4, 0.25)
        while not self._closed:
            await asyncio.sleep(tick)
            job = self._running
            if job is None or job.done.done():
                continue
            since = job.last_progress()
            if since is not None and time.monotonic() - since > self.timeout:
                error = self._give_up(job)
                if error is not None and not job.done.done():
                    job.done.set_exception(error)

    # -- the watchdog's side -----------------------------------------------------------
    def _give_up(self, job: _Job[Any]) -> DeadlockError | None:
        with self._lock:
            if job.finished:
                return None  # it returned just now: its result is on its way
            job.abandoned = True
            self._generation += 1
            stuck_thread = next((t for t in self._threads if t.ident == job.thread_id), None)
            self._threads = [t for t in self._threads if t is not stuck_thread]
            if stuck_thread is not None:
                self._retired.append(stuck_thread)
            frame = sys._current_frames().get(job.thread_id or -1)
            error = DeadlockError(self.timeout or 0.0, _location(frame))
            if job.thread_id is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(job.thread_id), ctypes.py_object(DeadlockInterrupt)
                )
        self.deadlocks += 1
        self.last_deadlock = str(error)
        if not self._closed:
            self._spawn()
        return error

    def _spawn(self) -> None:
        generation = self._generation
        thread = threading.Thread(
            target=self._serve, args=(generation,), name=self._name, daemon=True
        )
        self._threads.append(thread)
        thread.start()

    # -- the code thread's side --------------------------------------------------------
    def _serve(self, generation: int) -> None:
        job: _Job[Any] | None = None
        while True:
            try:
                if generation != self._generation:
                    return
                job = self._jobs.get()
                if job is None:
                    return
                if generation != self._generation:
                    self._jobs.put(job)  # retired meanwhile: the fresh thread takes it
                    return
                self._execute(job)
                job = None
            except DeadlockInterrupt:
                # Delivered late, after the code it was aimed at had returned: this thread
                # was retired. Hand back a job it had taken but not begun.
                if job is not None and job.started is None:
                    self._jobs.put(job)
                return

    def _execute(self, job: _Job[Any]) -> None:
        job.thread_id = threading.get_ident()
        job.started = time.monotonic()
        self._running = job
        outcome: tuple[bool, Any]
        try:
            outcome = (True, job.context.run(job.fn))
        except BaseException as exc:  # the caller gets it, whatever it is
            outcome = (False, exc)
        with self._lock:
            job.finished = True
            abandoned = job.abandoned
            if self._running is job:
                self._running = None
        if abandoned:
            for cleanup in job.after_abandon:
                # Teardown of code already given up on: nothing is left to tell.
                with contextlib.suppress(BaseException):
                    job.context.run(cleanup)
            return
        with self._lock:
            first = not self._settled
            self._settled.append((job.done, outcome))
        if first:
            # A closed loop (the worker is gone) has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                job.loop.call_soon_threadsafe(self._hand_over)

    def _hand_over(self) -> None:
        """On the loop: settle every outcome the serving thread finished since last time."""
        with self._lock:
            settled, self._settled = self._settled, []
        for done, outcome in settled:
            _settle(done, outcome)


def positive_seconds(name: str, value: timedelta) -> float:
    """``value`` in seconds, or a ValueError naming ``name`` when it is not positive."""
    seconds = value.total_seconds()
    if not seconds > 0:
        raise ValueError(f"{name} must be a positive duration, got {value}")
    return seconds


def _settle(done: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if done.done():
        return
    ok, value = outcome
    if ok:
        done.set_result(value)
    else:
        done.set_exception(value)


def _location(frame: FrameType | None) -> str:
    """``FILE:LINE`` of the innermost frame of user code in ``frame``'s stack."""
    fallback = "an unknown place"
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        here = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        if fallback == "an unknown place":
            fallback = here
        stdlib = filename.startswith(_STDLIB_DIR) and "site-packages" not in filename
        if not stdlib and not filename.startswith(_OWN_DIR):
            return here
        frame = frame.f_back
    return fallback
