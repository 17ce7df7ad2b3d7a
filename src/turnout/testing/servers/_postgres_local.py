"""A throwaway PostgreSQL cluster made with the local ``initdb`` and ``pg_ctl``."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Literal, Self

from turnout.testing.servers._postgres import PostgresServer, wait_for_postgres
from turnout.testing.servers._process import (
    LOG_TAIL_LINES,
    LOOPBACK,
    ServerError,
    free_port,
    mark_owner,
    orphaned,
    tail_of,
)

__all__ = ["LocalPostgres", "find_postgres_bindir"]


def find_postgres_bindir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None.

    Looks on ``PATH`` first, then under ``/usr/lib/postgresql/*/bin`` (Debian,
    Ubuntu) and ``/usr/pgsql-*/bin`` (RHEL family), newest version first.
    """

    def complete(directory: Path) -> bool:
        return all(os.access(directory / name, os.X_OK) for name in ("initdb", "pg_ctl"))

    on_path = shutil.which("pg_ctl")
    if on_path is not None:
        directory = Path(on_path).parent
        if complete(directory):
            return directory

    def version(path: Path) -> tuple[int, ...]:
        digits = re.findall(r"\d+", str(path))
        return tuple(int(d) for d in digits)

    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"):
        root, _, rest = pattern.partition("*")
        candidates = sorted(Path(root).parent.glob(Path(root).name + "*" + rest), key=version)
        for candidate in reversed(candidates):
            if complete(candidate):
                return candidate
    return None


def _memory_temp_dir(min_free: int = 1 << 30) -> str | None:
    """``/dev/shm`` when it is a writable tmpfs with ``min_free`` bytes free, else None."""
    shm = "/dev/shm"
    try:
        stats = os.statvfs(shm)
    except OSError:
        return None
    if stats.f_bavail * stats.f_frsize < min_free or not os.access(shm, os.W_OK | os.X_OK):
        return None
    return shm


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _runs_in(pid: int, directory: Path) -> bool:
    """Whether process ``pid`` runs with ``directory`` as its working directory (a
    postmaster runs in its data directory)."""
    try:
        return Path(f"/proc/{pid}/cwd").resolve() == directory.resolve()
    except OSError:
        return False


class LocalPostgres(PostgresServer):
    """A throwaway cluster from the local ``initdb`` / ``pg_ctl`` binaries.

    :meth:`start` makes a temporary directory, runs ``initdb`` (trust auth, UTF8,
    C locale), and starts the server on a free port of 127.0.0.1 with the unix
    socket in that directory and durability turned off for speed (``fsync``,
    ``synchronous_commit``, ``full_page_writes``). :meth:`stop` stops it
    (``-m immediate``) and deletes the directory. As root, the binaries run as
    the ``postgres`` system user (through ``runuser``), since ``initdb`` refuses
    to run as root.
    """

    kind = "local"
    superuser: ClassVar[str] = "postgres"
    _prefix: ClassVar[str] = "turnout-pg-"

    def __init__(
        self,
        bindir: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        settings: Mapping[str, str] | None = None,
        startup_timeout: float = 30.0,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """Describe a cluster; nothing runs until :meth:`start`.

        ``bindir`` defaults to :func:`find_postgres_bindir`; ``port`` to a free
        one; ``settings`` are extra ``-c name=value`` server settings;
        ``base_dir`` is where the temporary directory goes: by default
        ``/dev/shm`` when it has 1 GiB free (memory-backed: database copies are
        about ten times faster than on disk), else the system temporary directory.
        """
        self._bindir = Path(bindir) if bindir is not None else None
        self._requested_port = port
        self._settings = dict(settings or {})
        self.startup_timeout = startup_timeout
        self._base_dir = str(base_dir) if base_dir is not None else None
        self._root: Path | None = None
        self._port: int | None = None
        self._run_as: str | None = None
        self.startup_seconds: float | None = None
        """Seconds the last :meth:`start` took (initdb included)."""

    # -- paths and state

    @property
    def root(self) -> Path:
        """The temporary directory: ``data/`` (the cluster), ``server.log`` and the socket."""
        if self._root is None:
            raise ServerError("LocalPostgres is not started")
        return self._root

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        """The server log."""
        return self.root / "server.log"

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1."""
        if self._port is None:
            raise ServerError("LocalPostgres is not started")
        return self._port

    @property
    def admin_url(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/postgres`` (trust auth on loopback)."""
        return f"postgresql://{self.superuser}@{LOOPBACK}:{self.port}/postgres"

    @property
    def running(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop`."""
        return self._port is not None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server log."""
        return tail_of(self.log_path, lines)

    # -- lifecycle

    def start(self) -> Self:
        """Create and start the cluster; on failure raise :class:`ServerError` with the log tail."""
        if self._root is not None:
            return self
        began = time.monotonic()
        bindir = self._bindir or find_postgres_bindir()
        if bindir is None:
            raise ServerError(
                "initdb/pg_ctl not found on PATH, under /usr/lib/postgresql/*/bin "
                "or /usr/pgsql-*/bin"
            )
        missing = [name for name in ("initdb", "pg_ctl") if not os.access(bindir / name, os.X_OK)]
        if missing:
            raise ServerError(f"no executable {' or '.join(missing)} in {bindir}")
        self._bindir = bindir
        self._run_as = self._pick_user()
        if self._base_dir is None:
            self._base_dir = _memory_temp_dir() or tempfile.gettempdir()
        self._reap_orphans()
        self._root = Path(tempfile.mkdtemp(prefix=self._prefix, dir=self._base_dir))
        try:
            mark_owner(self._root)
            if self._run_as is not None:
                entry = pwd.getpwnam(self._run_as)
                os.chown(self._root, entry.pw_uid, entry.pw_gid)
            self._run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.superuser,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                what="initdb",
                timeout=120,
            )
            self._start_server()
            wait_for_postgres(self.admin_url, self.startup_timeout, alive=self._dead_reason)
        except BaseException as exc:
            log = self.log_tail() if self.log_path.exists() else ""
            self._teardown()
            if isinstance(exc, ServerError) and log:
                raise ServerError(f"{exc}\n--- server log (tail) ---\n{log}") from exc
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def restart(self, *, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """``pg_ctl restart -m MODE`` on the same port and data; wait until it answers again.

        ``mode="immediate"`` simulates a crash: the server runs crash recovery.
        """
        port = self.port
        self._run(
            [
                *self._pg_ctl(),
                "-l",
                str(self.log_path),
                "-m",
                mode,
                "-w",
                "-t",
                str(int(self.startup_timeout)),
                "-o",
                self._server_options(port),
                "restart",
            ],
            what="pg_ctl restart",
            timeout=self.startup_timeout + 30,
        )
        wait_for_postgres(self.admin_url, self.startup_timeout, alive=self._dead_reason)

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m immediate``) and delete its directory; idempotent."""
        self._teardown()

    def pause(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``) but keep its data and port: an outage
        that :meth:`resume` ends."""
        self._run(
            [*self._pg_ctl(), "-m", "fast", "-w", "-t", "30", "stop"],
            what="pg_ctl stop",
            timeout=60,
        )

    def resume(self) -> None:
        """Start the server :meth:`pause` stopped, on the same port; wait until it answers."""
        self._pg_ctl_start(self.port)
        wait_for_postgres(self.admin_url, self.startup_timeout, alive=self._dead_reason)

    # -- internals

    def _pick_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(self.superuser)
        except KeyError:
            raise ServerError(
                "running as root, and initdb refuses root: create a 'postgres' system user "
                "(the PostgreSQL server package does) or run the tests as another user"
            ) from None
        if shutil.which("runuser") is None:
            raise ServerError("running as root and 'runuser' (util-linux) is not on PATH")
        return self.superuser

    def _as_user(self, argv: list[str]) -> list[str]:
        if self._run_as is None:
            return argv
        return ["runuser", "-u", self._run_as, "--", *argv]

    def _pg_ctl(self) -> list[str]:
        assert self._bindir is not None
        return [str(self._bindir / "pg_ctl"), "-D", str(self.data_dir)]

    def _run(self, argv: list[str], *, what: str, timeout: float) -> None:
        try:
            result = subprocess.run(
                self._as_user(argv),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ServerError(f"{what} did not finish in {timeout:.0f}s") from exc
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise ServerError(f"{what} failed (exit {result.returncode}):\n{output}")

    def _server_options(self, port: int) -> str:
        settings = {
            "port": str(port),
            "listen_addresses": LOOPBACK,
            "unix_socket_directories": str(self.root),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            **self._settings,
        }
        # pg_ctl hands these to /bin/sh, hence the quoting.
        return " ".join(f"-c {shlex.quote(f'{name}={value}')}" for name, value in settings.items())

    def _start_server(self) -> None:
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(attempts):
            port = self._requested_port or free_port()
            try:
                self._pg_ctl_start(port)
            except ServerError:
                # Another process may have taken the port between probe and bind.
                if attempt + 1 < attempts and "could not bind" in self.log_tail(10):
                    continue
                raise
            self._port = port
            return

    def _pg_ctl_start(self, port: int) -> None:
        self._run(
            [
                *self._pg_ctl(),
                "-l",
                str(self.log_path),
                "-w",
                "-t",
                str(int(self.startup_timeout)),
                "-o",
                self._server_options(port),
                "start",
            ],
            what="pg_ctl start",
            timeout=self.startup_timeout + 30,
        )

    def _dead_reason(self) -> str | None:
        pid = _postmaster_pid(self.data_dir)
        if pid is None:
            return "postmaster.pid is gone"
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return f"postmaster {pid} exited"
        except PermissionError:
            pass
        return None

    def _reap_orphans(self) -> None:
        """Stop and delete clusters left behind by killed processes."""
        parent = Path(self._base_dir or tempfile.gettempdir())
        for root in orphaned(parent, self._prefix):
            self._stop_cluster(root)
            shutil.rmtree(root, ignore_errors=True)

    def _teardown(self) -> None:
        root = self._root
        if root is None:
            return
        try:
            self._stop_cluster(root)
        finally:
            self._root = None
            self._port = None
            shutil.rmtree(root, ignore_errors=True)

    def _stop_cluster(self, root: Path) -> None:
        assert self._bindir is not None
        data_dir = root / "data"
        pid = _postmaster_pid(data_dir)
        if pid is not None:
            pg_ctl = [str(self._bindir / "pg_ctl"), "-D", str(data_dir)]
            try:
                self._run(
                    [*pg_ctl, "-m", "immediate", "-w", "-t", "30", "stop"],
                    what="pg_ctl stop",
                    timeout=60,
                )
            except ServerError:
                # Only the postmaster still running in that directory: the pid file of a
                # cluster left behind may name a pid reused by any other process since.
                if _runs_in(pid, data_dir):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
