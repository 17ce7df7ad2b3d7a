"""What every launcher shares: the environment variables, the errors, ports, logs and
the owner files that let a later run clean up after a killed one."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DATABASE_URL_ENV",
    "LOG_TAIL_LINES",
    "LOOPBACK",
    "REQUIRE_POSTGRES_ENV",
    "REQUIRE_TEMPORAL_ENV",
    "TEMPORAL_ADDRESS_ENV",
    "ServerError",
    "ServerUnavailable",
    "env_flag",
    "free_port",
    "mark_owner",
    "orphaned",
    "redact_url",
    "tail_of",
]

DATABASE_URL_ENV = "TURNOUT_TEST_DATABASE_URL"
"""URL of an existing PostgreSQL server to use instead of starting one."""

TEMPORAL_ADDRESS_ENV = "TURNOUT_TEST_TEMPORAL_ADDRESS"
"""``host:port`` of an existing Temporal frontend to use instead of starting one."""

REQUIRE_POSTGRES_ENV = "TURNOUT_REQUIRE_POSTGRES"
"""When true, a missing PostgreSQL server fails the tests that need it instead of skipping."""

REQUIRE_TEMPORAL_ENV = "TURNOUT_REQUIRE_TEMPORAL"
"""When true, a missing Temporal server fails the tests that need it instead of skipping."""

LOOPBACK = "127.0.0.1"
LOG_TAIL_LINES = 40


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


def free_port(host: str = LOOPBACK) -> int:
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


def tail_of(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of the log at ``path`` (or why there are none)."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"(log {path} is empty)"


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


def mark_owner(root: Path) -> None:
    """Record this process as the creator of ``root``."""
    (root / _OWNER_FILE).write_text(str(os.getpid()))


def orphaned(parent: Path, prefix: str) -> list[Path]:
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
