"""Turns at SQLite's write lock between the processes on one file.

SQLite lets one transaction write at a time. A connection that finds the lock taken
sleeps in its busy handler and looks again after 1, 2, 5, 10, 15, 20, 25 ms and so on:
with a few worker processes and a client on one file, the lock often sits free while
they all sleep. Before ``BEGIN IMMEDIATE``, each process therefore takes its turn on an
exclusive ``flock`` of a file beside the database (``<file>-write.lock``): the kernel
wakes the next process the moment the turn is given back.

A turn is only an aid: a process that waits longer than the busy timeout goes on
without it (SQLite's own lock still decides), and SQLite alone keeps writers apart.
A process killed while it holds its turn gives it back as the kernel closes its files;
a child forked from a worker closes its copy at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from pathlib import Path

__all__ = ["TurnWait", "WriteTurns", "turns_file"]


def turns_file(wake_folder: Path | None) -> Path | None:
    """The lock file of the database whose wake-up folder is ``wake_folder`` (None:
    no turns, for a database in memory or off Linux)."""
    if wake_folder is None:
        return None
    return wake_folder.with_name(wake_folder.name.removesuffix("-wake") + "-write.lock")


class WriteTurns:
    """This process's turns at the write lock of one SQLite file. Callers in one
    process come one at a time (the store's own lock sees to it)."""

    def __init__(self, path: Path | None, timeout: float) -> None:
        self._path = path
        self._timeout = timeout
        self._fd: int | None = None
        self._waits: queue.SimpleQueue[tuple[int, TurnWait] | int | None] | None = None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold this process's turn for the block (or go on without it after the busy
        timeout)."""
        fd = self._open()
        held = fd is not None and await self._take(fd)
        try:
            yield
        finally:
            if held and fd is not None:
                _give_back(fd)

    def _open(self) -> int | None:
        if self._fd is None and self._path is not None:
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError:
                self._path = None  # a folder it cannot write: no turns, SQLite decides
                return None
            _OPENED.add(self)
        return self._fd

    def _forget(self) -> None:
        """In a forked child: drop its copy of the lock file (the parent's turn stays)."""
        fd, self._fd, self._path, self._waits = self._fd, None, None, None
        if fd is not None:
            os.close(fd)

    def _holds(self, fd: int) -> bool:
        return self._fd == fd

    async def _take(self, fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        wait = TurnWait(asyncio.get_running_loop(), self._holds)
        if self._waits is None:
            self._waits = queue.SimpleQueue()
            thread = threading.Thread(
                target=_wait_for_turns, args=(self._waits,), name="turnout-sqlite-turns"
            )
            thread.daemon = True
            thread.start()
        self._waits.put((fd, wait))
        try:
            return await asyncio.wait_for(asyncio.shield(wait.future), self._timeout)
        except TimeoutError:
            wait.abandon()
            return False  # SQLite's busy handler takes over
        except BaseException:
            wait.abandon()
            raise

    def close(self) -> None:
        """Close the lock file (a turn in hand is given back with it). With the turns'
        thread started, the thread closes it once the waits before are answered, so
        that no wait is left on a file closed under it."""
        fd, self._fd, self._path = self._fd, None, None
        _OPENED.discard(self)
        if self._waits is not None:
            self._waits.put(fd)
            self._waits = None
        elif fd is not None:
            os.close(fd)


class TurnWait:
    """One wait of the turns' thread for the lock, answered on the loop that asked."""

    def __init__(self, loop: asyncio.AbstractEventLoop, holds: Callable[[int], bool]) -> None:
        self.loop = loop
        self._holds = holds
        self.future: asyncio.Future[bool] = loop.create_future()
        self._abandoned = False

    def abandon(self) -> None:
        """Nobody waits any more: a turn that comes later is given back at once."""
        self._abandoned = True

    def settle(self, fd: int, held: bool) -> None:
        """(On the loop.) The turn came (``held``), or cannot come."""
        if not self._holds(fd):
            return  # the store closed meanwhile: its thread closes the file, lock and all
        if self._abandoned or self.future.done():
            if held:
                _give_back(fd)
        else:
            self.future.set_result(held)


def _wait_for_turns(waits: queue.SimpleQueue[tuple[int, TurnWait] | int | None]) -> None:
    """The turns' thread: waits for the lock for one caller after another (a daemon,
    so a wait that never ends never holds up the interpreter's exit); an fd alone
    (or None) asks it to close that file and stop."""
    while isinstance(asked := waits.get(), tuple):
        fd, wait = asked
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = True
        except OSError:  # the file was closed meanwhile
            held = False
        try:
            wait.loop.call_soon_threadsafe(wait.settle, fd, held)
        except RuntimeError:  # the loop is closed
            if held:
                _give_back(fd)
    if asked is not None:
        os.close(asked)


_OPENED: weakref.WeakSet[WriteTurns] = weakref.WeakSet()
"""The turns with a lock file open: a forked child closes its copies."""


def _forget_all() -> None:
    for turns in list(_OPENED):
        turns._forget()


os.register_at_fork(after_in_child=_forget_all)


def _give_back(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
