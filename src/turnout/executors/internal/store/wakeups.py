"""Wake-ups across processes for SQLite, which has no LISTEN/NOTIFY.

Each process that waits for work or results on a SQLite file (a worker, a client awaiting
a result) binds one Unix datagram socket in Linux's abstract namespace and leaves a
marker file named after it in ``<database>-wake/``, beside the database as SQLite's own
``-wal`` and ``-shm`` files are. After each commit that has something to announce, the
committing process sends the channels (``notify.py``) to every marked socket but its
own, and each receiver wakes its waiters at once instead of at its next look.

A datagram is a hint, never the only path: a receiver whose buffer is full, a process
that starts between two looks at the folder, or a platform without abstract sockets
(anything but Linux) falls back on the poll that SQLite workers and waiters keep. A
marker whose socket is gone (its process died) is removed by the first sender that
finds it so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import sys
from collections.abc import Iterable
from pathlib import Path

from turnout.executors.internal.store.notify import Notifier

__all__ = ["MAX_DATAGRAM", "SocketWakeups", "wake_folder"]

MAX_DATAGRAM = 16_384
"""Bytes of channel names sent in one datagram; more than this wakes everything instead."""
_EVERYTHING = b"*"
_log = logging.getLogger("turnout.store")


def wake_folder(database: str | None) -> Path | None:
    """The marker folder of the SQLite file ``database`` (None: in memory, or a platform
    without abstract sockets)."""
    if not sys.platform.startswith("linux") or not database:
        return None
    if database == ":memory:" or database.startswith("file:"):
        return None
    return Path(os.path.abspath(database) + "-wake")


class SocketWakeups:
    """This process's end of the wake-ups of one SQLite file; see the module docstring."""

    def __init__(self, folder: Path | None, notifier: Notifier) -> None:
        self.folder = folder
        self._notifier = notifier
        self._name: str | None = None
        self._receiver: socket.socket | None = None
        self._sender: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._peers: list[str] = []
        self._seen: int | None = None

    @property
    def listening(self) -> bool:
        """True once this process receives other processes' wake-ups."""
        return self._receiver is not None

    def start(self) -> None:
        """Receive wake-ups on the running loop (idempotent; a no-op without a folder)."""
        if self.folder is None or self._receiver is not None:
            return
        name = f"turnout-{os.getpid()}-{secrets.token_hex(8)}"
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            receiver.bind("\0" + name)
            receiver.setblocking(False)
            self.folder.mkdir(exist_ok=True)
            (self.folder / name).touch()
        except OSError as exc:
            receiver.close()
            _log.warning("no wake-ups from other processes (%s); polling instead", exc)
            self.folder = None
            return
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(receiver.fileno(), self._receive)
        self._name, self._receiver = name, receiver

    def _receive(self) -> None:
        assert self._receiver is not None
        while True:
            try:
                data = self._receiver.recv(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if data == _EVERYTHING:
                self._notifier.wake_all()
                continue
            for channel in data.decode("utf-8", "replace").split("\n"):
                self._notifier.wake(channel)

    def announce(self, channels: Iterable[str]) -> None:
        """Send ``channels`` to the other processes of this file (after a commit)."""
        if self.folder is None:
            return
        payload = "\n".join(channels).encode()
        if not payload:
            return
        if len(payload) > MAX_DATAGRAM:
            payload = _EVERYTHING
        peers = self._current_peers()
        if not peers:
            return
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        for name in peers:
            try:
                self._sender.sendto(payload, "\0" + name)
            except (ConnectionRefusedError, FileNotFoundError):
                self._forget(name)  # its process is gone
            except OSError:
                pass  # a full buffer: that process finds the work at its next look

    def _current_peers(self) -> list[str]:
        """The other processes' sockets, read again whenever the folder changed."""
        assert self.folder is not None
        try:
            changed = self.folder.stat().st_mtime_ns
        except OSError:
            return []  # nobody listens yet
        if changed != self._seen:
            self._seen = changed
            with contextlib.suppress(OSError):
                self._peers = [
                    entry.name
                    for entry in os.scandir(self.folder)
                    if entry.name.startswith("turnout-") and entry.name != self._name
                ]
        return self._peers

    def _forget(self, name: str) -> None:
        assert self.folder is not None
        with contextlib.suppress(OSError):
            (self.folder / name).unlink()
        with contextlib.suppress(ValueError):
            self._peers.remove(name)

    def close(self) -> None:
        """Stop receiving and remove this process's marker."""
        if self._receiver is not None:
            if self._loop is not None and not self._loop.is_closed():
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._receiver.fileno())
            self._receiver.close()
            self._receiver = None
            if self.folder is not None and self._name is not None:
                with contextlib.suppress(OSError):
                    (self.folder / self._name).unlink()
        if self._sender is not None:
            self._sender.close()
            self._sender = None
