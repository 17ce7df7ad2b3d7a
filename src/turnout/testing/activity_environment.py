"""``ActivityEnvironment``: run an activity function in a test, with ``activity.*`` working.

The counterpart of ``temporalio.testing.ActivityEnvironment``: a test written for it runs
once its imports name turnout. No worker, database or server is involved: the function
is called in the test's process with an activity runtime of its own, which answers
``activity.info()`` with :attr:`ActivityEnvironment.info`, hands heartbeats to
:attr:`ActivityEnvironment.on_heartbeat` and learns of cancellation from
:meth:`ActivityEnvironment.cancel`, as a worker's attempt learns of it from the store.

Differences from temporalio's, each deliberate:

- a sync activity is not interrupted by :meth:`~ActivityEnvironment.cancel`: as on
  turnout's workers, it sees ``activity.is_cancelled()`` and its next
  ``activity.heartbeat()`` raises :class:`turnout.exceptions.CancelledError`;
- ``activity.client()`` answers sync activities too (turnout's workers give every
  activity their client);
- heartbeat details are checked as a worker checks them (JSON, within the size limits),
  so a detail a worker would refuse fails the test;
- ``payload_converter``, ``metric_meter`` and ``worker_shutdown`` are refused with a
  :class:`~turnout.ConfigurationError` that says why, and ``cancel`` takes no
  cancellation details.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, ParamSpec, TypeVar, cast

from turnout.contracts.errors import CancelledError, ConfigurationError
from turnout.contracts.records import Artifact
from turnout.executors.internal import codec
from turnout.workflows._runtime import (
    ActivityInfo,
    ArtifactSpec,
    CompleteAsyncError,
    set_activity_runtime,
)
from turnout.workflows.activity import logger as activity_logger

__all__ = ["ActivityEnvironment"]

P = ParamSpec("P")
R = TypeVar("R")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _NotOffered(ConfigurationError, AttributeError):
    """An attribute of temporalio's ActivityEnvironment that turnout does not offer
    (an AttributeError too, so ``hasattr`` answers False)."""


class _Refused:
    """A temporalio attribute refused on both reading and assignment, saying why."""

    def __init__(self, reason: str) -> None:
        self._reason = reason
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        raise self._error()

    def __set__(self, obj: object, value: object) -> None:
        raise self._error()

    def _error(self) -> _NotOffered:
        return _NotOffered(
            f"ActivityEnvironment.{self._name} is not offered by turnout: {self._reason}"
        )


class _TestAttempt:
    """The ActivityRuntime of one :meth:`ActivityEnvironment.run` call."""

    def __init__(self, env: ActivityEnvironment, is_async: bool) -> None:
        self._env = env
        self.is_async = is_async
        self.cancelled = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None
        self._task: asyncio.Task[Any] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run on ``loop``: cancellation also wakes ``wait_for_cancelled`` and cancels the
        task :meth:`attach` gives."""
        self._loop = loop
        self._woken = asyncio.Event()

    def attach(self, task: asyncio.Task[Any]) -> None:
        """The task the async activity runs in; cancelled at once if cancellation came first."""
        self._task = task
        if self.cancelled.is_set():
            self._wake()

    def cancel(self) -> None:
        """Record the cancellation; an async activity's task is cancelled on its loop."""
        self.cancelled.set()
        loop = self._loop
        if loop is None:
            return  # a sync activity: it learns of it at its next heartbeat
        if _running_loop() is loop:
            self._wake()
        else:
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self._woken is not None:
            self._woken.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    # -- ActivityRuntime ----------------------------------------------------------------

    def info(self) -> ActivityInfo:
        return self._env.info

    def heartbeat(self, *details: Any) -> None:
        # Checked as a worker checks them: a detail it would refuse fails here too.
        codec.check_payload(
            codec.encode_args(details),
            f"the heartbeat details of activity {self._env.info.activity_type}",
        )
        self._env.on_heartbeat(*details)
        if not self.is_async and self.cancelled.is_set():
            # As on turnout's workers: a thread is not interrupted, so a sync activity
            # learns of its cancellation at its next heartbeat.
            raise CancelledError("activity cancelled")

    def is_cancelled(self) -> bool:
        return self.cancelled.is_set()

    async def wait_for_cancelled(self) -> None:
        if self._woken is not None and _running_loop() is self._loop:
            await self._woken.wait()
            return
        while not self.cancelled.is_set():  # awaited on a loop of the activity's own
            await asyncio.to_thread(self.cancelled.wait, 1.0)

    def wait_for_cancelled_sync(self, timeout: float | None) -> bool:
        return self.cancelled.wait(timeout)

    def raise_complete_async(self) -> NoReturn:
        raise CompleteAsyncError()  # out of run(), as temporalio's environment lets it

    def client(self) -> Any:
        if self._env.client is None:
            raise RuntimeError(
                "no client in this ActivityEnvironment: pass one, "
                "ActivityEnvironment(client=...), for activity.client() to return it"
            )
        return self._env.client

    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        return activity_logger

    async def record_artifact(self, artifact: ArtifactSpec) -> Artifact:
        info = self._env.info
        recorded = artifact.recorded(
            run_id=info.workflow_run_id,
            workflow_id=info.workflow_id,
            tenant_id=info.tenant_id,
            activity_type=info.activity_type,
        )
        self._env.artifacts.append(recorded)
        return recorded


class ActivityEnvironment:
    """Runs activity functions in a test, with ``activity.*`` working inside them.

    ``turnout.testing.ActivityEnvironment`` is ``temporalio.testing.ActivityEnvironment``
    on turnout::

        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, attempt=2)
        beats = []
        env.on_heartbeat = lambda *details: beats.append(details)
        assert env.run(resize, "photo.png") == "photo-small.png"   # a sync activity
        assert await env.run(fetch, "https://...") == b"..."         # an async one

    ``run`` may be called many times, also concurrently; :meth:`cancel` reaches every
    activity running then and every one started later.

    Attributes:
        info: What ``activity.info()`` returns (read at each call);
            :meth:`default_info` until replaced, e.g. with ``dataclasses.replace``.
        on_heartbeat: Called with the details of each ``activity.heartbeat(...)``;
            does nothing until replaced.
        client: What ``activity.client()`` returns; without one it raises RuntimeError.
        artifacts: What ``activity.record_artifact(...)`` recorded, in order.
    """

    payload_converter = _Refused(
        "turnout converts values with pydantic from the type hints; nothing converts here"
    )
    metric_meter = _Refused("metrics come from turnout's Observer, not from activity code")
    worker_shutdown = _Refused(
        "activities get no shutdown notice: a worker's shutdown gives them a grace "
        "period, then cancels them (test that with cancel())"
    )

    def __init__(self, client: Any | None = None) -> None:
        """An environment whose ``activity.client()`` returns ``client``."""
        self.info: ActivityInfo = ActivityEnvironment.default_info()
        self.on_heartbeat: Callable[..., None] = _ignore
        self.client: Any | None = client
        self.artifacts: list[Artifact] = []
        self._cancelled = False
        self._running: set[_TestAttempt] = set()
        self._lock = threading.Lock()

    @staticmethod
    def default_info() -> ActivityInfo:
        """The info of a new environment: ids, type, task queue and workflow of ``test``
        (activity type ``unknown``), attempt 1, no heartbeat details, times at the
        epoch, and temporalio's one-second start-to-close and schedule-to-close timeouts
        (informative only: nothing here enforces them)."""
        return ActivityInfo(
            activity_id="test",
            activity_type="unknown",
            attempt=1,
            workflow_id="test",
            workflow_run_id="test-run",
            workflow_type="test",
            task_queue="test",
            scheduled_time=_EPOCH,
            started_time=_EPOCH,
            heartbeat_details=[],
            start_to_close_timeout=timedelta(seconds=1),
            schedule_to_close_timeout=timedelta(seconds=1),
            heartbeat_timeout=None,
        )

    def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn(*args, **kwargs)`` as an activity and return what it returns.

        A plain ``def`` runs here, in the caller's thread, and its result is returned.
        For an ``async def`` (or an instance whose ``__call__`` is one) a coroutine is
        returned: awaiting it runs the activity in a task of its own (which
        :meth:`cancel` cancels) and gives its result. Functions, bound methods of an
        activity class and callable instances are all accepted.
        """
        attempt = _TestAttempt(self, _is_async(fn))
        if attempt.is_async:
            return cast(R, self._run_async(attempt, fn, args, kwargs))
        with self._running_as(attempt) as context:
            return context.run(fn, *args, **kwargs)

    def cancel(self, cancellation_details: object = None) -> None:
        """Cancel the running activities, and those started later, as a worker would.

        An async activity's task is cancelled (it sees ``asyncio.CancelledError``); a
        sync one sees ``activity.is_cancelled()`` and its next ``activity.heartbeat()``
        raises :class:`turnout.exceptions.CancelledError`. ``wait_for_cancelled`` and
        ``wait_for_cancelled_sync`` return. Only the first call has an effect.
        ``cancellation_details`` is refused: turnout's cancellation carries none.
        """
        if cancellation_details is not None:
            raise ConfigurationError(
                "ActivityEnvironment.cancel takes no cancellation_details: turnout's "
                "cancellation carries none (activities check activity.is_cancelled())"
            )
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            running = list(self._running)
        for attempt in running:
            attempt.cancel()

    async def _run_async(
        self,
        attempt: _TestAttempt,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        loop = asyncio.get_running_loop()
        attempt.bind(loop)
        with self._running_as(attempt) as context:
            coro = cast(Coroutine[Any, Any, Any], context.run(fn, *args, **kwargs))
            task = loop.create_task(coro, context=context)
            attempt.attach(task)
            return await task

    @contextmanager
    def _running_as(self, attempt: _TestAttempt) -> Iterator[contextvars.Context]:
        """A context where ``attempt`` is the activity runtime, while it is registered
        for :meth:`cancel` (cancelled at once if the environment already is)."""
        with self._lock:
            self._running.add(attempt)
            cancelled = self._cancelled
        if cancelled:
            attempt.cancel()
        context = contextvars.copy_context()
        context.run(set_activity_runtime, attempt)
        try:
            yield context
        finally:
            with self._lock:
                self._running.discard(attempt)


def _ignore(*details: Any) -> None:
    """The default ``on_heartbeat``: heartbeats go nowhere."""


def _is_async(fn: Callable[..., Any]) -> bool:
    # An instance of an activity class is async when its class's __call__ is.
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
