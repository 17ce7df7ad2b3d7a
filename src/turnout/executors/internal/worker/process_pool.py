"""Sync activities in a process pool: the child's ``activity.*`` and the worker's relay.

A closure cannot cross to another process, so the worker submits :func:`run_in_child`
(module level, picklable) with a :class:`ChildCall`: the activity function, its decoded
arguments, its ``activity.info()`` record and a :class:`Channel` of manager proxies. In
the child, :class:`ChildRuntime` answers ``activity.*``: ``heartbeat()`` puts the
encoded details on the manager's queue, ``is_cancelled()`` reads an event the worker
sets. In the worker, :class:`HeartbeatRelay` reads the queue on a thread of its own and
hands each heartbeat to its attempt on the event loop; :class:`ProcessPool` runs one
attempt, forwarding its cancellation to the child's event.

As in temporalio, the child is never interrupted: asked to cancel, it learns of it from
``activity.is_cancelled()`` (or ``wait_for_cancelled_sync``) and ends the attempt itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import pickle
import queue
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from turnout.contracts.errors import ApplicationError
from turnout.contracts.records import Artifact
from turnout.contracts.shared_state import SharedStateManager, is_process_pool
from turnout.executors.internal import codec
from turnout.workflows._runtime import (
    ActivityInfo,
    ArtifactSpec,
    CompleteAsyncError,
    reset_activity_runtime,
    set_activity_runtime,
)

__all__ = ["Beats", "Channel", "ChildCall", "ChildRuntime", "ProcessPool", "run_in_child"]

_log = logging.getLogger("turnout.worker")

_FLUSH_TIMEOUT = 10.0
"""How long the end of an attempt waits for its last heartbeats to be read."""


@dataclass(frozen=True)
class Channel:
    """What a child process holds of its attempt: where its heartbeats go (``None``:
    nowhere, a local activity) and the event the worker sets to cancel it."""

    key: str
    heartbeats: queue.Queue[tuple[str, list[Any] | None]] | None
    cancelled: threading.Event


@dataclass(frozen=True)
class ChildCall:
    """One attempt, as it crosses to the child process."""

    fn: Callable[..., Any]
    args: Sequence[Any]
    info: ActivityInfo
    channel: Channel


class ChildRuntime:
    """``activity.*`` inside a child process of the pool."""

    def __init__(self, info: ActivityInfo, channel: Channel) -> None:
        self._info = info
        self._channel = channel

    def info(self) -> ActivityInfo:
        return self._info

    def heartbeat(self, *details: Any) -> None:
        encoded = codec.encode_heartbeat(details, self._info.activity_type)
        if self._channel.heartbeats is not None:
            self._channel.heartbeats.put((self._channel.key, encoded), True, 30)

    def is_cancelled(self) -> bool:
        return bool(self._channel.cancelled.is_set())

    async def wait_for_cancelled(self) -> None:
        while not await asyncio.to_thread(self._channel.cancelled.wait, 1.0):
            pass

    def wait_for_cancelled_sync(self, timeout: float | None) -> bool:
        return bool(self._channel.cancelled.wait(timeout))

    def raise_complete_async(self) -> NoReturn:
        raise CompleteAsyncError()

    def payload_converter(self) -> codec.JsonPayloadConverter:
        return codec.CONVERTER

    def client(self) -> Any:
        raise RuntimeError(
            "activity.client() is not available to an activity running in a process pool"
        )

    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        from turnout.workflows.activity import logger

        return logger

    async def record_artifact(self, spec: ArtifactSpec) -> Artifact:
        raise RuntimeError(
            "activity.record_artifact() is not available to an activity running in a "
            "process pool: record it from an async activity"
        )


def run_in_child(call: ChildCall) -> Any:
    """Run one attempt in the child process, with :class:`ChildRuntime` as its runtime."""
    token = set_activity_runtime(ChildRuntime(call.info, call.channel))
    try:
        return call.fn(*call.args)
    finally:
        reset_activity_runtime(token)


class Beats(Protocol):
    """The attempt a child process runs, as the worker sees it."""

    def record_beat(self, details: list[Any]) -> None:
        """Take the encoded details of a heartbeat (on the event loop)."""

    def forward_cancel(self, cancel: Callable[[], None]) -> None:
        """Have ``cancel`` called when the attempt is asked to cancel."""


class HeartbeatRelay:
    """Reads the heartbeats of a worker's child processes from one manager queue, on a
    thread that runs while an attempt listens, and hands each to its attempt."""

    def __init__(self, manager: SharedStateManager) -> None:
        self._manager = manager
        self._queue: queue.Queue[tuple[str, list[Any] | None]] | None = None
        self._made = asyncio.Lock()
        self._lock = threading.Lock()
        self._listeners: dict[str, Callable[[list[Any] | None], None]] = {}
        self._reading = False

    async def queue(self) -> queue.Queue[tuple[str, list[Any] | None]]:
        """The manager queue the children put their heartbeats on (made once)."""
        async with self._made:
            if self._queue is None:
                made: queue.Queue[Any] = await asyncio.to_thread(self._manager.manager.Queue, 1000)
                self._queue = made
            return self._queue

    def listen(self, key: str, listener: Callable[[list[Any] | None], None]) -> None:
        """Call ``listener`` (on the reading thread) with each heartbeat of ``key``, and
        with ``None`` once the heartbeats sent before :meth:`close` are all read."""
        with self._lock:
            self._listeners[key] = listener
            if self._reading:
                return
            self._reading = True
        pool = self._manager.queue_poller_executor
        if pool is not None:
            pool.submit(self._read)
        else:
            threading.Thread(target=self._read, name="turnout-heartbeats", daemon=True).start()

    async def close(self, key: str) -> None:
        """Stop listening for ``key`` once what its child sent is read."""
        assert self._queue is not None
        await asyncio.to_thread(self._queue.put, (key, None), True, 5)

    def forget(self, key: str) -> None:
        """Stop listening for ``key`` at once (its child is abandoned)."""
        with self._lock:
            self._listeners.pop(key, None)

    def _read(self) -> None:
        assert self._queue is not None
        while True:
            with self._lock:
                if not self._listeners:
                    self._reading = False
                    return
            try:
                key, details = self._queue.get(True, 0.5)
            except queue.Empty:
                continue
            except Exception:
                _log.exception("reading the heartbeats of process-pool activities failed")
                with self._lock:
                    self._listeners.clear()
                    self._reading = False
                return
            with self._lock:
                listener = (
                    self._listeners.pop(key, None) if details is None else self._listeners.get(key)
                )
            if listener is not None:
                listener(details)


class ProcessPool:
    """Runs sync activity attempts in ``executor``, a pool of other processes."""

    def __init__(self, executor: concurrent.futures.Executor, manager: SharedStateManager) -> None:
        self._executor = executor
        self._manager = manager
        self._relay = HeartbeatRelay(manager)

    @staticmethod
    def serving(
        executor: concurrent.futures.Executor | None, manager: SharedStateManager | None
    ) -> ProcessPool | None:
        """The pool a worker runs its sync activities in, when ``executor`` is not a
        thread pool (``None`` when it is)."""
        if executor is None or manager is None or not is_process_pool(executor):
            return None
        return ProcessPool(executor, manager)

    async def run(
        self,
        name: str,
        fn: Callable[..., Any],
        args: Sequence[Any],
        info: ActivityInfo,
        beats: Beats | None,
    ) -> Any:
        """Run ``fn(*args)`` in the pool; its heartbeats reach ``beats`` (dropped when
        ``None``). Cancelling this coroutine abandons the child, told through its event."""
        loop = asyncio.get_running_loop()
        cancelled: threading.Event = await asyncio.to_thread(self._manager.new_event)
        key = uuid.uuid4().hex
        heartbeats = await self._relay.queue() if beats is not None else None
        call = ChildCall(fn, list(args), info, Channel(key, heartbeats, cancelled))
        try:
            pickle.dumps(call)
        except Exception as exc:
            raise ApplicationError(
                f"activity {name} cannot run in a process pool: its function or its "
                f"arguments cannot be pickled ({type(exc).__name__}: {exc})",
                type="NotPicklable",
                non_retryable=True,
            ) from None
        done: asyncio.Future[None] = loop.create_future()

        def tell() -> None:  # off the loop: the event lives in the manager's process
            loop.run_in_executor(None, cancelled.set)

        if beats is not None:
            beats.forward_cancel(tell)

            def heard(details: list[Any] | None) -> None:
                if details is None:
                    loop.call_soon_threadsafe(_resolve, done)
                else:
                    loop.call_soon_threadsafe(beats.record_beat, details)

            self._relay.listen(key, heard)
        try:
            result = await loop.run_in_executor(self._executor, run_in_child, call)
        except asyncio.CancelledError:
            # A timeout, a shutdown: the child is not interrupted, but told.
            self._relay.forget(key)
            tell()
            raise
        except BaseException:
            await self._flush(key, done, beats)
            raise
        await self._flush(key, done, beats)
        return result

    async def _flush(self, key: str, done: asyncio.Future[None], beats: Beats | None) -> None:
        """Wait until the heartbeats the child sent before it returned are read."""
        if beats is None:
            return
        try:
            await self._relay.close(key)
            await asyncio.wait_for(done, _FLUSH_TIMEOUT)
        except Exception as exc:
            self._relay.forget(key)
            _log.warning("the last heartbeats of a process-pool activity were lost: %s", exc)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
