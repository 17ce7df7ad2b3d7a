"""``create_app()``: the ASGI application ``turnout serve`` runs.

It serves the JSON API (``turnout.http.routes``), its OpenAPI document at
``/openapi.json``, and the web console's routes when ``turnout.http.console`` is
installed. Every API route but ``/healthz`` and ``/openapi.json`` needs a token
(``turnout.http.auth``); the auth middleware puts the token's tenant on
``request.state.tenant`` and a client scoped to that tenant on
``request.state.client`` (both None on a console route without a valid token).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from turnout.config import Settings, load_settings
from turnout.contracts.errors import ConfigurationError
from turnout.http.auth import CONSOLE_HEADER, COOKIE, TokenFile
from turnout.http.edges import ClientGone, on_client_disconnect
from turnout.http.errors import from_exception, json_error
from turnout.http.local import NoTokens, local_problem
from turnout.http.routes import routes as api_routes
from turnout.http.routes.common import ENCODED_SLASH
from turnout.http.schemas import openapi_document

__all__ = ["ApiState", "ClientFactory", "ClientHub", "EncodedSlashes", "create_app"]

log = logging.getLogger("turnout.http")

ClientFactory = Callable[[str], Awaitable[Any]]
"""Makes the client of one tenant: ``await factory("acme")``."""

PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json"})
_SIGN_IN_PATHS = frozenset({"/login", "/logout"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ClientHub:
    """One client per tenant, made on the tenant's first request and closed with the app."""

    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory
        self._clients: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def client(self, tenant: str) -> Any:
        """The tenant's client (made once, then shared by its requests)."""
        found = self._clients.get(tenant)
        if found is not None:
            return found
        lock = self._locks.setdefault(tenant, asyncio.Lock())
        async with lock:
            if tenant not in self._clients:
                self._clients[tenant] = await self._factory(tenant)
            return self._clients[tenant]

    async def close(self) -> None:
        """Close every client made so far."""
        clients, self._clients = list(self._clients.values()), {}
        for client in reversed(clients):
            try:
                await client.close()
            except Exception:
                log.exception("closing a tenant's client failed")


def settings_factory(settings: Settings, workflows: Sequence[type] = ()) -> ClientFactory:
    """Clients made from settings. The other tenants share the first tenant's connections
    when its client can (``for_tenant``: on the internal executor, one store); otherwise
    each tenant connects on its own."""
    shared: dict[str, Any] = {}
    first_made = asyncio.Lock()  # two tenants' first requests at once open one store

    async def make(tenant: str) -> Any:
        import turnout

        tenant_settings = settings.model_copy(update={"tenant_id": tenant})
        async with first_made:
            first = shared.get("client")
            if first is None:
                first = await turnout.connect(settings=tenant_settings, workflows=workflows)
                shared["client"] = first
                return first
        sharing = getattr(first, "for_tenant", None)
        client = sharing(tenant) if sharing is not None else None
        if client is None:
            return await turnout.connect(settings=tenant_settings, workflows=workflows)
        return client

    return make


@dataclass
class ApiState:
    """What the app's routes share (``request.app.state.turnout``)."""

    settings: Settings
    tokens: TokenFile | NoTokens
    hub: ClientHub
    sse_poll_interval: float = 0.25
    sse_keepalive: float = 15.0
    query_timeout: float = 10.0
    stopping: bool = False
    """Set when the server stops: open event streams end within one poll interval."""
    local_tenant: str | None = None
    """Without a tokens file, on a loopback address: the tenant every request without a
    token acts for (:mod:`turnout.http.local`)."""

    @property
    def executor(self) -> str:
        """``internal`` or ``temporal``."""
        return self.settings.executor.value


class AuthMiddleware:
    """Resolve the request's token to a tenant and its client.

    An API route without a valid token is refused (401). A console route runs either
    way, with ``request.state.client`` None when there is no valid token, so that the
    console can send the browser to its sign-in page.
    """

    def __init__(self, app: ASGIApp, state: ApiState, console_routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.state = state
        self.console_routes = list(console_routes)

    def _is_console(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is not Match.NONE for route in self.console_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        console = self._is_console(scope)
        scope.setdefault("state", {})
        scope["state"]["tenant"] = None
        scope["state"]["client"] = None
        token, by_cookie = _token_of(request)
        tenant = self.state.tokens.tenant_of(token) if token else None
        if token is None and self.state.local_tenant is not None:
            refused = local_problem(request)
            if refused is not None:
                await json_error(403, "forbidden", refused)(scope, receive, send)
                return
            tenant = self.state.local_tenant
        if tenant is None:
            if console:
                await self.app(scope, receive, send)
            else:
                problem = self.state.tokens.problem if token else None
                await _unauthorized(token is not None, problem)(scope, receive, send)
            return
        if (
            by_cookie
            and request.method not in _SAFE_METHODS
            and scope["path"] not in _SIGN_IN_PATHS
            and request.headers.get(CONSOLE_HEADER) != "1"
        ):
            response = json_error(
                403,
                "csrf",
                f"a change made with the console's cookie must carry the header "
                f"{CONSOLE_HEADER}: 1; API clients send Authorization: Bearer <token> instead",
            )
            await response(scope, receive, send)
            return
        try:
            client = await self.state.hub.client(tenant)
        except Exception as exc:
            log.error("cannot make the client of tenant %s: %s", tenant, exc)
            error = from_exception(exc)
            if error.status < 500:  # the server's settings are wrong, not the request
                error = from_exception(ConnectionError(str(exc)))
            await json_error(error.status, error.code, error.message)(scope, receive, send)
            return
        scope["state"]["tenant"] = tenant
        scope["state"]["client"] = client
        await self.app(scope, receive, send)


class EncodedSlashes:
    """Route a path's encoded slashes (``%2F``) as part of a segment, not as separators.

    Starlette routes on the decoded path, where ``/workflows/a%2Fevents`` would be the
    events of ``a``; here such a slash becomes ``ENCODED_SLASH`` (``turnout.http.routes``)
    while routing and ``path_param`` turns it back into ``/``. A path that already holds
    that character (``%1F``, which no workflow id may contain) is left alone.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] == "http" else None
        if raw:
            text = raw.decode("latin-1").split("?", 1)[0]
            lowered = text.lower()
            if "%2f" in lowered and "%1f" not in lowered:
                scope = dict(scope)
                scope["path"] = unquote(re.sub("%2[fF]", "%1F", text))
                scope.setdefault("state", {})
                scope["state"] = {**scope["state"], "encoded_slashes": True}
        await self.app(scope, receive, send)


def _token_of(request: Request) -> tuple[str | None, bool]:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), False
        return "", False  # a malformed header is an invalid token, never a missing one
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return cookie, True
    return None, False


def _unauthorized(had_token: bool, problem: str | None = None) -> Response:
    if problem is not None:
        message, code = problem, "invalid_token"
    elif had_token:
        message = (
            "the token is not valid for this server: check it, or create one with "
            "`turnout token create --tenant TENANT` and add its line to the server's tokens file"
        )
        code = "invalid_token"
    else:
        message = (
            "this route needs a token: send Authorization: Bearer <token> "
            "(`turnout token create --tenant TENANT` makes one)"
        )
        code = "unauthorized"
    return json_error(401, code, message, **{"WWW-Authenticate": 'Bearer realm="turnout"'})


async def _openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        if _CONTROL.search(request.scope["path"].replace(ENCODED_SLASH, "/")):
            message = (
                "the path contains a control character (U+0000-U+001F or U+007F); no route has one"
            )
            return json_error(404, "not_found", message)
        return json_error(404, "not_found", f"no route {request.url.path}; see /openapi.json")
    if exc.status_code == 405:
        return json_error(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {request.url.path}; see /openapi.json",
            **(exc.headers or {}),
        )
    return json_error(exc.status_code, "http_error", str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    error = from_exception(exc)
    return json_error(error.status, error.code, error.message)


def _console_routes(state: ApiState) -> list[BaseRoute]:
    try:
        from turnout.http import console  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return []
    found: list[BaseRoute] = list(console.routes(state))
    return found


def create_app(
    settings: Settings | None = None,
    *,
    tokens_file: str | os.PathLike[str] | None = None,
    client_factory: ClientFactory | None = None,
    workflows: Sequence[type] = (),
    sse_poll_interval: float = 0.25,
    query_timeout: float = 10.0,
    console: bool = True,
    local_tenant: str | None = None,
) -> Starlette:
    """The HTTP API (and the web console, when installed) as a Starlette app.

    ``settings`` default to :func:`turnout.config.load_settings`. The tokens file is
    ``tokens_file`` or the ``TURNOUT_API_TOKENS_FILE`` setting; without one (and without
    ``local_tenant``) the app is refused (every route but /healthz needs a token).
    ``client_factory`` makes the client of a tenant (default: ``turnout.connect`` with
    the settings and that tenant); ``workflows`` are the classes the clients know (their
    return types convert results; optional). ``sse_poll_interval`` is how often an event
    stream looks for new events; ``query_timeout`` bounds a query (a worker of the run's
    task queue answers it). ``local_tenant``, given without a tokens file, serves a
    loopback address without tokens: each request without one acts for that tenant
    (:mod:`turnout.http.local`).
    """
    settings = settings or load_settings()
    path = tokens_file or settings.api_tokens_file
    if not path and local_tenant is not None:
        tokens: TokenFile | NoTokens = NoTokens()
    elif not path:
        raise ConfigurationError(
            "the HTTP API needs a tokens file: pass --tokens-file FILE or set "
            "TURNOUT_API_TOKENS_FILE; `turnout token create --tenant TENANT` makes a token "
            "and prints the line to put in that file"
        )
    else:
        tokens = TokenFile.open(path)
    state = ApiState(
        settings=settings,
        tokens=tokens,
        local_tenant=None if path else local_tenant,
        hub=ClientHub(client_factory or settings_factory(settings, workflows)),
        sse_poll_interval=sse_poll_interval,
        query_timeout=query_timeout,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.hub.close()

    routes: list[BaseRoute] = [
        Route("/openapi.json", _openapi, methods=["GET"]),
        *api_routes(),
    ]
    console_routes = _console_routes(state) if console else []
    routes.extend(console_routes)
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: _http_error,
            ClientDisconnect: on_client_disconnect,
            Exception: _server_error,
        },
    )
    app.state.turnout = state
    app.state.openapi = openapi_document()
    app.add_middleware(AuthMiddleware, state=state, console_routes=console_routes)
    app.add_middleware(EncodedSlashes)
    app.add_middleware(ClientGone)
    return app
