"""``/healthz``, ``/readyz`` and ``/metrics`` of a worker process, on a small asyncio HTTP
server in the worker's own event loop (no thread, no dependency).

``/healthz`` answers 200 while the process's loop runs. ``/readyz`` answers 200 when
every worker is ready (:func:`readiness`: the database answers, its schema is at the
revision this turnout expects, the claim loop runs), else 503; both with a JSON body
that says why. ``/metrics`` serves a :class:`turnout.observability.Metrics` registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Readiness", "Server", "readiness", "serve_health", "serve_metrics"]

_log = logging.getLogger("turnout.health")
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
DATABASE_TIMEOUT = 3.0
"""Seconds the readiness probe waits for the database (the Temporal server)."""

DEFAULT_HOST = "127.0.0.1"
"""The address the servers listen on unless told otherwise: this machine only; give
``host="0.0.0.0"`` for probes and scrapes from elsewhere."""

Route = Callable[[], Awaitable[tuple[int, str, bytes]]]


@dataclass(frozen=True)
class Readiness:
    """The verdict of :func:`readiness` on one worker."""

    ready: bool
    checks: dict[str, str]
    """Each check's name and what was found ("ok", or the reason it failed)."""


async def readiness(worker: Any, *, timeout: float = DATABASE_TIMEOUT) -> Readiness:
    """Is ``worker`` ready: database reachable, schema at the expected revision, claim
    loop running? On Temporal: the server answers its health check and the worker polls.

    Each check is one the worker offers: ``claiming``, ``code_health()``,
    ``check_server(timeout)`` (Temporal), ``check_database(timeout)`` (internal)."""
    worker = backend(worker)
    checks: dict[str, str] = {}
    claiming = worker.claiming
    checks["claim loop"] = "ok" if claiming else "not running (starting or stopping)"
    code_health = getattr(worker, "code_health", None)
    if code_health is not None:  # internal: threads held by workflow code that never yielded
        checks["workflow code"] = code_health()
    check_server = getattr(worker, "check_server", None)
    if check_server is not None:  # Temporal
        checks["temporal server"] = await check_server(timeout)
    check_database = getattr(worker, "check_database", None)
    if check_database is not None:  # internal: the database answers, at the right schema
        checks.update(await check_database(timeout))
    return Readiness(all(v == "ok" for v in checks.values()), checks)


def backend(worker: Any) -> Any:
    """The executor's worker behind a ``turnout.Worker`` (or ``worker`` itself)."""
    return getattr(worker, "_backend", worker)


class Server:
    """A tiny HTTP/1.1 server (GET and HEAD, one response per connection) in the running
    loop."""

    def __init__(
        self, routes: dict[str, Route], *, host: str = DEFAULT_HOST, port: int = 0
    ) -> None:
        self.routes = routes
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> Server:
        """Listen; ``port=0`` picks a free port (read :attr:`port` afterwards)."""
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as exc:
            raise OSError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); "
                "choose another port"
            ) from exc
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Server:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                request = (await reader.readline()).decode("latin-1").split()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                status, content_type, body = await self._respond(request)
            head_only = bool(request) and request[0] == "HEAD"
            head = (
                f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + (b"" if head_only else body))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        except Exception:
            _log.exception("health/metrics request failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(self, request: Sequence[str]) -> tuple[int, str, bytes]:
        if len(request) < 2:
            return 405, "text/plain", b"bad request\n"
        method, target = request[0], request[1].split("?", 1)[0]
        route = self.routes.get(target)
        if route is None:
            known = ", ".join(sorted(self.routes))
            return 404, "text/plain", f"no {target} here; try {known}\n".encode()
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"GET or HEAD only\n"
        return await route()


def _json(status: int, value: Any) -> tuple[int, str, bytes]:
    return status, "application/json", (json.dumps(value) + "\n").encode()


def health_routes(workers: Sequence[Any]) -> dict[str, Route]:
    """``/healthz`` and ``/readyz`` of ``workers``."""

    async def healthz() -> tuple[int, str, bytes]:
        return _json(200, {"status": "alive"})

    async def readyz() -> tuple[int, str, bytes]:
        verdicts = [await readiness(w) for w in workers]
        found = [backend(w) for w in workers]
        body: dict[str, Any] = {
            "status": "ready" if verdicts and all(v.ready for v in verdicts) else "not ready",
            "workers": [
                {
                    "task_queue": w.task_queue,
                    "identity": w.identity,
                    "checks": v.checks,
                    **_deadlocks(w),
                }
                for w, v in zip(found, verdicts, strict=True)
            ],
        }
        failing = [
            f"{w.task_queue}: {name} {found}"
            for w, v in zip(found, verdicts, strict=True)
            for name, found in v.checks.items()
            if found != "ok"
        ]
        if not workers:
            failing.append("no worker runs")
        if failing:
            body["reason"] = "; ".join(failing)
        return _json(200 if not failing else 503, body)

    return {"/healthz": healthz, "/readyz": readyz}


def _deadlocks(worker: Any) -> dict[str, Any]:
    """``{"deadlocks": {"count": N, "last": message}}`` of an internal worker whose workflow
    code failed to yield since it started (nothing otherwise)."""
    deadlocks = getattr(worker, "deadlocks", None)
    if deadlocks is None:
        return {}
    count, last = deadlocks()
    return {"deadlocks": {"count": count, "last": last}} if count else {}


def metrics_routes(metrics: Any) -> dict[str, Route]:
    """``/metrics`` of a :class:`turnout.observability.Metrics`."""
    from turnout.observability.metrics import CONTENT_TYPE

    async def scrape() -> tuple[int, str, bytes]:
        await metrics.refresh()
        return 200, CONTENT_TYPE, metrics.exposition()

    return {"/metrics": scrape}


async def serve_health(workers: Sequence[Any], port: int, host: str = DEFAULT_HOST) -> Server:
    """Serve ``/healthz`` and ``/readyz`` of ``workers`` on ``host`` (this machine only by
    default) and ``port`` (0: a free one)."""
    return await Server(health_routes(workers), host=host, port=port).start()


async def serve_metrics(metrics: Any, port: int, host: str = DEFAULT_HOST) -> Server:
    """Serve ``/metrics`` of ``metrics`` on ``host`` (this machine only by default) and
    ``port`` (0: a free one)."""
    return await Server(metrics_routes(metrics), host=host, port=port).start()
