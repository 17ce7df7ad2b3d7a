"""The HTTP server ``turnout serve`` runs: uvicorn, with time limits for slow clients.

uvicorn alone waits forever for a client that opens a connection and sends part of a
request, or that stops reading its response, so a few such clients hold connections and
memory for as long as they like. :func:`server_config` gives uvicorn a connection
protocol that cuts them:

- **header** (default 10 s): a client sends its whole request line and headers within
  this time of connecting, or of the end of its previous response;
- **body** (default 30 s): the longest wait for the next part of a request body; a client
  that stalls is answered ``408 Request Timeout`` and its connection closed;
- **write** (default 30 s): the longest a client may leave response data unread (the
  server's buffer for it is full, or the response is finished but not taken);
- **keep_alive** (default 5 s): how long an idle connection is kept open between requests.

Each cut is logged as one line naming the client; an idle connection that never sent a
byte is closed quietly (browsers open such connections in advance). The protocol wraps
uvicorn's own (h11 or httptools, whichever uvicorn picks) and changes nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.server import ServerState

from turnout.http.edges import EXCHANGE

__all__ = ["ClientTimeouts", "GuardedHTTP", "server_config"]

log = logging.getLogger("turnout.http")


@dataclass(frozen=True)
class ClientTimeouts:
    """How long the server waits on a client, in seconds (see the module's docstring)."""

    header: float = 10.0
    body: float = 30.0
    write: float = 30.0
    keep_alive: float = 5.0

    def __post_init__(self) -> None:
        for name in ("header", "body", "write", "keep_alive"):
            value = getattr(self, name)
            if not 0 < value <= 86_400:
                raise ValueError(f"the {name} timeout is {value} s; give 0 < seconds <= 86400")


def server_config(
    app: ASGIApp, *, timeouts: ClientTimeouts | None = None, **options: Any
) -> uvicorn.Config:
    """uvicorn's configuration for ``app``, with :class:`GuardedHTTP` as its protocol.

    ``options`` are uvicorn's (``host``, ``port``, ``log_level``, ...).
    """
    timeouts = timeouts or ClientTimeouts()
    protocol = type("GuardedHTTP", (GuardedHTTP,), {"timeouts": timeouts})
    options.setdefault("loop", "asyncio")  # not uvloop because it is installed (see GuardedHTTP)
    return uvicorn.Config(
        app, http=protocol, timeout_keep_alive=max(1, round(timeouts.keep_alive)), **options
    )


class _Exchange:
    """One request on a guarded connection: its body reads and its response, timed."""

    def __init__(self, connection: GuardedHTTP, scope: Scope, receive: Receive, send: Send) -> None:
        self.connection = connection
        self.what = f"{scope.get('method', '?')} {str(scope.get('path', ''))[:200]!r}"
        self._receive = receive
        self._send = send
        self.body_done = False
        self.response_started = False
        self.cut = False
        """True once the server closed the connection itself; the app's sends are dropped."""

    async def receive(self) -> Message:
        if self.body_done or self.cut:
            return await self._receive()  # e.g. a streamed response listening for the close
        limit = self.connection.timeouts.body
        try:
            async with asyncio.timeout(limit):
                message = await self._receive()
        except TimeoutError:
            await self._cut_slow_body(limit)
            return {"type": "http.disconnect"}
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.body_done = True
        return message

    async def send(self, message: Message) -> None:
        if self.cut:
            return
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)

    async def _cut_slow_body(self, limit: float) -> None:
        self.cut = True
        log.info(
            "closed the connection of %s: no request body data for %g s (%s)",
            self.connection.peer,
            limit,
            self.what,
        )
        if self.response_started:
            self.connection.abort()
            return
        body = f"no request body data for {limit:g} s: the connection is closed\n".encode()
        try:
            await self._send(
                {
                    "type": "http.response.start",
                    "status": 408,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"connection", b"close"),
                    ],
                }
            )
            await self._send({"type": "http.response.body", "body": body})
        except Exception:  # the connection broke meanwhile: nothing is left to answer
            self.connection.abort()


class GuardedHTTP(asyncio.Protocol):
    """uvicorn's HTTP protocol for one connection, with :class:`ClientTimeouts` enforced.

    uvicorn makes one per connection (``Config(http=...)``); :func:`server_config` makes
    the subclass that carries the timeouts.
    """

    timeouts: ClassVar[ClientTimeouts] = ClientTimeouts()

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        inner = AutoHTTPProtocol(  # type: ignore[call-arg]
            config=config, server_state=server_state, app_state=app_state, _loop=_loop
        )
        self.inner: Any = cast(Any, inner)
        self.loop = _loop or asyncio.get_event_loop()
        self._app: ASGIApp = self.inner.app
        self.inner.app = self._serve  # uvicorn calls it once the request's head is read
        self.transport: asyncio.Transport | None = None
        self.peer = "a client"
        self.active = 0
        self.lost = False
        self._heard = False
        self._idle: asyncio.TimerHandle | None = None
        self._stall: asyncio.TimerHandle | None = None
        self._unsent: int | None = None
        self._exchanges: set[_Exchange] = set()

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = f"{peer[0]}:{peer[1]}"
        self.inner.connection_made(transport)
        self._wait_for_request()

    def data_received(self, data: bytes) -> None:
        self._heard = True
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self.inner.eof_received()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._cancel_idle()
        self._cancel_stall()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()
        if self._stall is None and self.transport is not None:
            self._unsent = self.transport.get_write_buffer_size()
            self._stall = self.loop.call_later(self.timeouts.write, self._stalled)

    def resume_writing(self) -> None:
        self._cancel_stall()
        self.inner.resume_writing()

    # -- requests ------------------------------------------------------------------------

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.active += 1
        self._cancel_idle()
        exchange = _Exchange(self, scope, receive, send)
        scope.setdefault("extensions", {})[EXCHANGE] = exchange
        self._exchanges.add(exchange)
        try:
            await self._app(scope, exchange.receive, exchange.send)
        finally:
            self._exchanges.discard(exchange)
            self.active -= 1
            if not self.active:
                self._heard = False
                self._wait_for_request()

    def abort(self) -> None:
        """Close the connection at once, dropping what the client has not taken."""
        if self.transport is not None and not self.lost:
            self.transport.abort()

    # -- timers --------------------------------------------------------------------------

    def _wait_for_request(self) -> None:
        self._cancel_idle()
        self._unsent = None
        if not self.lost:
            self._idle = self.loop.call_later(self.timeouts.header, self._idle_expired)

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _cancel_stall(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _idle_expired(self) -> None:
        self._idle = None
        if self.lost or self.active or self.transport is None:
            return
        if self.transport.get_protocol() is not self:  # upgraded (WebSocket): not ours now
            return
        unsent = self.transport.get_write_buffer_size()
        if unsent:  # the last response is still on its way: give the client time to take it
            if self._unsent is not None and unsent >= self._unsent:
                self._cut(f"took none of its response for {self.timeouts.write:g} s")
                return
            self._unsent = unsent
            self._idle = self.loop.call_later(self.timeouts.write, self._idle_expired)
            return
        if self._heard:
            self._cut(f"sent no complete request within {self.timeouts.header:g} s")
        else:
            log.debug("closed an idle connection of %s", self.peer)
            self.abort()

    def _stalled(self) -> None:
        self._stall = None
        if self.lost or self.transport is None:
            return
        unsent = self.transport.get_write_buffer_size()
        if self._unsent is not None and unsent < self._unsent:  # slow, but reading
            self._unsent = unsent
            self._stall = self.loop.call_later(self.timeouts.write, self._stalled)
            return
        self._cut(f"took none of its response for {self.timeouts.write:g} s")

    def _cut(self, reason: str) -> None:
        log.info("closed the connection of %s: it %s", self.peer, reason)
        for exchange in self._exchanges:
            exchange.cut = True
        self.abort()
