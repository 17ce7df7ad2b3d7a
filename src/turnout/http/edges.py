"""A client that goes away before its request is read: one log line, never a traceback.

Starlette raises ``ClientDisconnect`` when a route reads the body of a request whose
client has closed the connection. The API and the console answer it with
:data:`CLIENT_GONE` (a response nobody receives), and :class:`ClientGone` logs that
answer as one line naming the client and the request. When the server itself cut the
client for being too slow (``turnout.http.server``), it has logged that already, and
nothing more is logged.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from turnout.http.errors import CLIENT_GONE, client_gone, error_response

__all__ = ["EXCHANGE", "ClientGone", "on_client_disconnect"]

log = logging.getLogger("turnout.http")

EXCHANGE = "turnout.exchange"
"""The key of ``scope["extensions"]`` where the server keeps its view of a request; its
``cut`` attribute is true once the server closed the connection itself."""


async def on_client_disconnect(request: Request, exc: Exception) -> Response:
    """Starlette's exception handler for ``ClientDisconnect`` (routes without a guard)."""
    return error_response(client_gone())


def _describe(scope: Scope) -> str:
    client = scope.get("client")
    peer = f"{client[0]}:{client[1]}" if client else "a client"
    path = scope.get("path", "")
    return f"{peer} ({scope.get('method', '?')} {path[:200]!r})"


class ClientGone:
    """Log each request answered with :data:`CLIENT_GONE` as one line (INFO)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == CLIENT_GONE:
                exchange = scope.get("extensions", {}).get(EXCHANGE)
                if not getattr(exchange, "cut", False):
                    log.info(
                        "client disconnected before its request was read: %s", _describe(scope)
                    )
            await send(message)

        await self.app(scope, receive, sending)
