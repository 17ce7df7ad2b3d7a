"""The server's edges over real sockets: slow clients are cut after their timeout, and a
client that goes away is logged as one line, never with a traceback.

The server is ``turnout.http.server.server_config`` (what ``turnout serve`` runs) in a
thread, with timeouts of half a second; the clients are raw sockets that misbehave.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.http_api_kit import TENANT_A, write_tokens
from turnout.config import load_settings
from turnout.http import create_app
from turnout.http.server import ClientTimeouts, server_config

ROOT = Path(__file__).resolve().parents[2]
QUICK = ClientTimeouts(header=0.5, body=0.5, write=0.5, keep_alive=5)
SERVER_SEND_BUFFER = 4096
"""The kernel's send buffer of the server's sockets, so a client that does not read
leaves the response in the server's own buffer (where the server sees it wait)."""


class Lines(logging.Handler):
    """The log records of the ``turnout`` loggers; waits for one that matches."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.records.append(record)
            self.changed.notify_all()

    def wait_for(self, text: str, timeout: float = 10) -> logging.LogRecord:
        def found() -> logging.LogRecord | None:
            return next((r for r in self.records if text in r.getMessage()), None)

        with self.changed:
            if not self.changed.wait_for(lambda: found() is not None, timeout):
                shown = [r.getMessage() for r in self.records]
                raise AssertionError(f"no log line with {text!r} within {timeout} s: {shown}")
            record = found()
            assert record is not None
            return record

    def assert_no_traceback(self) -> None:
        bad = [r for r in self.records if r.exc_info or r.levelno >= logging.ERROR]
        assert not bad, [r.getMessage() for r in bad]


@dataclass
class Served:
    host: str
    port: int
    token: str
    lines: Lines

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def connect(self, receive_buffer: int | None = None) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(15)  # bounds every read of the test
        sock.connect((self.host, self.port))
        return sock


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed."""
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks), time.monotonic()


@contextlib.contextmanager
def serving(tmp_path: Path, timeouts: ClientTimeouts = QUICK) -> Iterator[Served]:
    import uvicorn

    tokens = write_tokens(tmp_path / "tokens")
    settings = load_settings(database_url=f"sqlite:///{tmp_path}/edges.db")
    app = create_app(settings, tokens_file=tmp_path / "tokens")
    lines = Lines()
    logger = logging.getLogger("turnout")
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.DEBUG)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SERVER_SEND_BUFFER)  # inherited
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = server_config(app, timeouts=timeouts, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            thread.join(0.02)  # bounded: the server thread reports `started` or ends
        assert server.started, "the server did not start within 15 s"
        yield Served("127.0.0.1", port, tokens[TENANT_A], lines)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        logger.removeHandler(lines)
        logger.setLevel(level)


def _head(method: str, path: str, token: str, *extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: turnout.test", f"Authorization: Bearer {token}"]
    return ("\r\n".join([*lines, *extra]) + "\r\n\r\n").encode()


def test_a_client_that_goes_away_mid_request_is_logged_as_one_line(tmp_path: Path) -> None:
    with serving(tmp_path) as served:
        for path, content_type, start in [
            ("/workflows", "application/json", b'{"workflow": "Hel'),
            ("/login", "application/x-www-form-urlencoded", b"token=tnt_"),
        ]:
            with served.connect() as sock:
                head = _head(
                    "POST", path, served.token, f"Content-Type: {content_type}",
                    "Content-Length: 1000",
                )  # fmt: skip
                sock.sendall(head + start)
            record = served.lines.wait_for(f"(POST {path!r})")
            message = record.getMessage()
            assert message.startswith("client disconnected before its request was read: ")
            assert "\n" not in message
            assert record.levelno == logging.INFO
        # An event stream the client closes ends quietly.
        with httpx.Client(base_url=served.url, timeout=10) as http:
            started = http.post(
                "/workflows",
                json={"workflow": "SleepyWorkflow", "task_queue": "nobody"},
                headers={"Authorization": f"Bearer {served.token}"},
            )
            workflow_id = started.json()["workflow_id"]
            with http.stream(
                "GET",
                f"/workflows/{workflow_id}/events",
                headers={"Accept": "text/event-stream", "Authorization": f"Bearer {served.token}"},
            ) as stream:
                next(stream.iter_lines())
        served.lines.assert_no_traceback()


def test_a_client_that_never_finishes_its_request_head_is_cut(tmp_path: Path) -> None:
    with serving(tmp_path) as served:
        with served.connect() as sock:
            sent = time.monotonic()
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: turn")
            received, closed = read_until_closed(sock)
        assert received == b""
        assert 0.5 <= closed - sent < 5
        served.lines.wait_for("sent no complete request within 0.5 s")
        with served.connect() as idle:  # connected, never sent a byte: closed quietly
            assert read_until_closed(idle)[0] == b""
        served.lines.wait_for("closed an idle connection")
        # A client that keeps its promise is served as before.
        assert httpx.get(f"{served.url}/healthz", timeout=10).status_code == 200
        served.lines.assert_no_traceback()


def test_a_client_that_stalls_its_body_gets_408_and_is_cut(tmp_path: Path) -> None:
    with serving(tmp_path) as served:
        with served.connect() as sock:
            head = _head(
                "POST", "/workflows", served.token, "Content-Type: application/json",
                "Content-Length: 500",
            )  # fmt: skip
            sent = time.monotonic()
            sock.sendall(head + b'{"workflow": ')
            received, closed = read_until_closed(sock)
        assert received.startswith(b"HTTP/1.1 408 "), received
        assert b"no request body data for 0.5 s" in received
        assert 0.5 <= closed - sent < 5
        record = served.lines.wait_for("no request body data for 0.5 s")
        assert "(POST '/workflows')" in record.getMessage()
        served.lines.assert_no_traceback()
        assert not [r for r in served.lines.records if "client disconnected" in r.getMessage()]


@pytest.mark.parametrize("size", ["small", "large"])
def test_a_client_that_does_not_read_its_response_is_cut(tmp_path: Path, size: str) -> None:
    """``small`` fits the server's buffer (the response is finished, never taken);
    ``large`` fills it (the server waits to write more)."""
    with serving(tmp_path) as served:
        if size == "small":
            path, length = "/openapi.json", 40_000
        else:
            with httpx.Client(base_url=served.url, timeout=10) as http:
                started = http.post(
                    "/workflows",
                    json={"workflow": "W", "args": ["x" * 1_500_000], "task_queue": "nobody"},
                    headers={"Authorization": f"Bearer {served.token}"},
                )
                assert started.status_code == 202, started.text
            path, length = f"/workflows/{started.json()['workflow_id']}", 1_500_000
        with served.connect(receive_buffer=4096) as sock:
            sock.sendall(_head("GET", path, served.token))
            record = served.lines.wait_for("took none of its response for 0.5 s")
            received, _ = read_until_closed(sock)
        assert received.startswith(b"HTTP/1.1 200 ")
        assert len(received) < length  # the rest was dropped with the connection
        assert record.levelno == logging.INFO
        served.lines.assert_no_traceback()


def test_turnout_serve_takes_its_timeouts_from_options_and_logs_a_cut(tmp_path: Path) -> None:
    from tests.integration.test_http_serve import serve, stop

    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env["PYTHONPATH"] = str(ROOT)
    env["TURNOUT_DATABASE_URL"] = f"sqlite:///{tmp_path}/serve.db"
    env["TURNOUT_HTTP_CLIENT_TIMEOUT"] = "0.5"
    write_tokens(tmp_path / "tokens")
    proc, url, log = serve(
        env, tmp_path, "--tokens-file", str(tmp_path / "tokens"), "--header-timeout", "0.5"
    )
    try:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=15) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            assert read_until_closed(sock)[0] == b""
    finally:
        stop(proc)
    text = log.read_text()
    assert "closed the connection of 127.0.0.1:" in text
    assert "sent no complete request within 0.5 s" in text
    assert "Traceback" not in text
    refused = subprocess.run(
        [sys.executable, "-m", "turnout", "serve", "--header-timeout", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "--header-timeout" in refused.stderr


def test_the_server_runs_on_pythons_loop_even_with_uvloop_installed() -> None:
    # uvicorn picks uvloop whenever it is importable (the uvloop extra installs it for
    # workers); the guarded protocol's timeouts are written against asyncio's transports.
    import asyncio

    import uvloop

    async def app(scope: object, receive: object, send: object) -> None:
        return None

    factory = server_config(app).get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, asyncio.BaseEventLoop)
        assert not isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
