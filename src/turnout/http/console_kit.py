"""What the console's page modules share: the request's client, the way to the sign-in
page, and pages that answer an executor's error with an HTML page saying what failed."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from turnout.http.errors import from_exception

__all__ = ["PageGroup", "Renders", "error_page", "page_client", "to_login"]


class Renders(Protocol):
    """What renders the console's pages (``turnout.http.console``)."""

    def page(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        """The template ``name`` with ``context``, as the console's HTML page."""
        ...


_R = TypeVar("_R", bound=Renders)


class PageGroup:
    """A group of the console's pages (schedules, workers), rendered by its :class:`Renders`."""

    def __init__(self, renders: Renders) -> None:
        self.renders = renders

    def page(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        """A page of the console (see :class:`Renders`)."""
        return self.renders.page(request, name, context, status)


def page_client(request: Request) -> Any:
    """The tenant client of a signed-in request, or None (then go to the sign-in page)."""
    return getattr(request.state, "client", None)


def to_login(request: Request) -> Response:
    """A redirect to the sign-in page, which comes back to this page."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


def error_page(
    handler: Callable[[_R, Request], Awaitable[Response]],
) -> Callable[[_R, Request], Awaitable[Response]]:
    """A page that answers an error of the executor with an HTML page saying what failed
    (the API's own message: an unreachable database, a refused request, ...)."""

    @functools.wraps(handler)
    async def page(pages: _R, request: Request) -> Response:
        try:
            return await handler(pages, request)
        except Exception as exc:
            error = from_exception(exc)
            context = {"code": error.code, "message": error.message}
            return pages.page(request, "error.html", context, error.status)

    return page
