"""The web console: server-rendered pages over a request's tenant-scoped client.

``routes(app_state)`` returns the console's routes, mounted at ``/`` next to the
JSON API:

- ``GET /``: task queues (depth, lag, workers) and the runs list, filtered by a list query
  (as ``GET /workflows?query=`` takes it), state, workflow type and task queue, one page
  at a time;
- ``GET /runs/{workflow_id}``: one run: its timeline (drawn by
  ``static/console.js`` from the events embedded in the page), its actions, what it
  waits on while open (pending activities, children, signals, updates, and why no
  worker moves it), its input,
  result or failure, approvals with Approve / Reject buttons, policy decisions,
  artifacts;
- ``GET /runs/{workflow_id}/panel``: the same run as JSON (state, the page's
  detail sections as HTML, events after ``?after=SEQ``), which the page reads to
  refresh itself while the run is open;
- ``GET /console/schedules`` and ``/console/schedules/{id}``: the schedules
  (:mod:`turnout.http.console_schedules`);
- ``GET /console/workers``: each task queue's workers (:mod:`turnout.http.console_workers`);
- ``GET|POST /login`` and ``POST /logout``: the ``turnout_token`` cookie;
- ``/static``: the console's CSS and JavaScript (nothing is fetched from elsewhere).

The pages read through ``request.state.client``, which the authentication
middleware sets for a request with a valid token; without it a page redirects to
``/login``. Decisions and a run's actions (cancel, terminate, signal, re-run) are made
by the page's script through the JSON API, as any API client would; so are a schedule's
(pause, unpause, trigger, delete).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from jinja2 import pass_context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from turnout.contracts.errors import WorkflowNotFoundError
from turnout.contracts.events import Event
from turnout.contracts.records import Run
from turnout.contracts.states import RunState
from turnout.http import csrf, present
from turnout.http.auth import COOKIE
from turnout.http.console_kit import error_page, page_client, to_login
from turnout.http.console_schedules import SchedulePages
from turnout.http.console_workers import WorkerPages
from turnout.http.errors import ApiError, error_response, from_exception, json_error
from turnout.http.limits import name_problem
from turnout.http.routes.common import path_param
from turnout.http.routes.pages import read_page
from turnout.http.routes.queues import queue_list
from turnout.http.routes.workflows import checked_query
from turnout.http.schemas import QueueList

__all__ = ["PAGE_SIZE", "routes"]

PAGE_SIZE = 25
"""Runs per page of the runs list."""

_HERE = Path(__file__).parent
_MAX_PAGE = 200
_MAX_TOKEN = 4096
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # Only this site's own script and style; no framing (a framed Approve button could be
    # clicked by a visitor who cannot see it), no forms posted elsewhere.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
        "object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_MAX_FORM = 16 * 1024

TenantOf = Callable[[str], "str | None"]


def routes(app_state: object) -> list[BaseRoute]:
    """The console's routes.

    ``app_state`` is the API app's shared state; its ``tokens`` (a
    :class:`~turnout.http.auth.TokenFile`) check the token given at ``/login``.
    """
    tenant_of = getattr(getattr(app_state, "tokens", None), "tenant_of", None)
    if not callable(tenant_of):
        raise TypeError(
            "the console checks tokens with app_state.tokens.tenant_of(token); "
            f"got {type(app_state).__name__} without it: build the app with "
            "turnout.http.create_app()"
        )
    console = _Console(_templates(), tenant_of)
    return [
        Route("/", console.home, methods=["GET"], name="console_home"),
        Route("/runs/{workflow_id:path}/panel", console.panel, methods=["GET"], name="run_panel"),
        Route("/runs/{workflow_id:path}", console.run, methods=["GET"], name="console_run"),
        *SchedulePages(console).routes(),
        *WorkerPages(console).routes(),
        Route("/login", console.login_form, methods=["GET"], name="console_login"),
        Route("/login", console.login, methods=["POST"]),
        Route("/logout", console.logout, methods=["POST"], name="console_logout"),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=_HERE / "templates")
    env = templates.env
    env.filters["when"] = present.when
    env.filters["ago"] = present.ago
    env.filters["pretty"] = present.pretty
    env.filters["seconds"] = present.seconds
    env.filters["took"] = present.took
    env.filters["attributes"] = present.attributes
    env.globals["state_class"] = present.state_class
    env.globals["page_url"] = _page_url
    return templates


# --------------------------------------------------------------------------- pages


class _Console:
    def __init__(self, templates: Jinja2Templates, tenant_of: TenantOf) -> None:
        self.templates = templates
        self.tenant_of = tenant_of

    def page(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        context.setdefault("tenant", getattr(request.state, "tenant", None))
        response = self.templates.TemplateResponse(request, name, context, status_code=status)
        response.headers.update(_PAGE_HEADERS)
        return response

    @error_page
    async def home(self, request: Request) -> Response:
        client = page_client(request)
        if client is None:
            return to_login(request)
        params = request.query_params
        if params.get("partial") == "queues":
            return self.page(request, "_queues.html", {"queues": await _queues(request)})
        filters = {
            "state": params.get("state", "").strip(),
            "type": params.get("type", "").strip(),
            "task_queue": params.get("task_queue", "").strip(),
            "query": params.get("query", "").strip(),
        }
        cursor = params.get("cursor", "").strip() or None
        limit = _int(params.get("limit"), PAGE_SIZE, 1, _MAX_PAGE)
        problem = next(
            (p for k, v in [*filters.items(), ("cursor", cursor)] if v and (p := _bad(v, k))),
            None,
        )
        state: RunState | None = None
        if filters["state"] and problem is None:
            try:
                state = RunState(filters["state"])
            except ValueError:
                problem = f"unknown state {filters['state']!r}; pick one from the list"
        runs: list[Run] = []
        next_cursor = None
        if problem is None:
            try:
                runs, next_cursor = await read_page(
                    client,
                    query=checked_query(filters["query"] or None),
                    state=state,
                    workflow_type=filters["type"] or None,
                    task_queue=filters["task_queue"] or None,
                    limit=limit,
                    cursor=cursor,
                )
            except ApiError as exc:
                if exc.status != 422:
                    raise
                problem = exc.message
                if exc.code == "invalid_cursor":
                    problem = "this page's link is out of date; start again from the newest runs"
        context: dict[str, Any] = {
            "runs": runs,
            "filters": filters,
            "states": [s.value for s in RunState],
            "cursor": cursor,
            "limit": limit,
            "next_cursor": next_cursor,
            "problem": problem,
        }
        if params.get("partial") == "runs":
            return self.page(request, "_runs.html", context, 400 if problem else 200)
        context["queues"] = await _queues(request)
        return self.page(request, "home.html", context, 400 if problem else 200)

    @error_page
    async def run(self, request: Request) -> Response:
        client = page_client(request)
        if client is None:
            return to_login(request)
        workflow_id = path_param(request, "workflow_id")
        try:
            if name_problem(workflow_id, "the workflow id") is not None:
                raise WorkflowNotFoundError(workflow_id)
            view = await _run_view(client, workflow_id)
        except WorkflowNotFoundError:
            return self.page(
                request,
                "not_found.html",
                {"workflow_id": workflow_id},
                status=404,
            )
        view["events_json"] = Markup(_script_json([_event_json(e) for e in view["events"]]))
        return self.page(request, "run.html", view)

    async def panel(self, request: Request) -> Response:
        client = page_client(request)
        if client is None:
            return json_error(401, "unauthorized", "the console's session ended: log in at /login")
        workflow_id = path_param(request, "workflow_id")
        after = _int(request.query_params.get("after"), 0, 0, 2**62)
        try:
            if name_problem(workflow_id, "the workflow id") is not None:
                raise WorkflowNotFoundError(workflow_id)
            view = await _run_view(client, workflow_id)
        except Exception as exc:
            return error_response(from_exception(exc))
        context = {**view, "request": request}
        parts = {
            part: self.templates.get_template(f"_run_{part}.html").render(context)
            for part in ("summary", "waiting", "pending", "details")
        }
        run: Run = view["run"]
        return JSONResponse(
            {
                "state": run.state.value,
                "open": not run.state.is_terminal,
                **parts,
                "events": [_event_json(e) for e in view["events"] if e.seq > after],
            },
            headers={"Cache-Control": "no-store"},
        )

    def login_page(
        self, request: Request, target: str, problem: str | None = None, status: int = 200
    ) -> Response:
        """The sign-in form, with its CSRF token (a fresh one after a refused token)."""
        token = csrf.new_token() if status == 403 else csrf.token_for(request)
        context = {"next": target, "problem": problem, "csrf_field": csrf.FIELD, "csrf": token}
        return csrf.attach(self.page(request, "login.html", context, status), token, request)

    async def login_form(self, request: Request) -> Response:
        return self.login_page(request, _safe_next(request.query_params.get("next")))

    async def login(self, request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_FORM:
                return self.login_page(request, "/", "The form is too large.", 413)
        try:
            form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
        except ValueError:
            form = {}
        token = (form.get("token") or [""])[0].strip()
        target = _safe_next((form.get("next") or [""])[0])
        refused = csrf.problem(request, form)
        if refused is not None:
            return self.login_page(request, target, refused, 403)
        problem = None
        if not token:
            problem = "Paste your API token into the field."
        elif len(token) > _MAX_TOKEN or not token.isprintable():
            problem = "That is not a turnout token: it should be one line of printable text."
        elif self.tenant_of(token) is None:
            problem = "This token is not valid here. Check that you copied all of it."
        if problem is not None:
            return self.login_page(request, target, problem, 401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response


# --------------------------------------------------------------------------- data


async def _run_view(client: Any, workflow_id: str) -> dict[str, Any]:
    handle = client.get_workflow_handle(workflow_id)
    run: Run = await handle.describe()
    events: list[Event] = await handle.events()
    approvals = await handle.approvals()
    decisions = await handle.policy_decisions()
    artifacts = await handle.artifacts()
    started = next((e for e in events if e.type.value == "workflow_started"), None)
    workflow_input = started.attributes.get("input") if started is not None else None
    return {
        "run": run,
        "events": events,
        "input": workflow_input,
        "has_input": started is not None and "input" in started.attributes,
        "approvals": approvals,
        "pending": [a for a in approvals if a.state.value == "pending"],
        "decisions": decisions,
        "artifacts": artifacts,
        "open": not run.state.is_terminal,
    }


async def _queues(request: Request) -> QueueList:
    """The task queues with their figures and workers, as ``GET /queues`` answers them."""
    return await queue_list(page_client(request))


# --------------------------------------------------------------------------- helpers


def _event_json(event: Event) -> dict[str, Any]:
    return event.model_dump(mode="json")


def _script_json(value: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _bad(value: str, name: str) -> str | None:
    """Why a filter of the runs list cannot be used (one line), or None."""
    problem = name_problem(value, f"the {name.replace('_', ' ')} filter")
    return None if problem is None else problem[0].upper() + problem[1:] + "."


def _int(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(raw) if raw not in (None, "") else default
    except ValueError:
        return default
    return min(max(value, low), high)


def _safe_next(raw: str | None) -> str:
    """A local path to go to after logging in; anything else becomes ``/``."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    if any(ord(c) < 0x20 for c in raw):
        return "/"
    return raw


@pass_context
def _page_url(context: Mapping[str, Any], cursor: str | None) -> str:
    filters = {k: v for k, v in context["filters"].items() if v}
    if cursor:
        filters["cursor"] = str(cursor)
    if context.get("limit", PAGE_SIZE) != PAGE_SIZE:
        filters["limit"] = str(context["limit"])
    return "/" + ("?" + urlencode(filters, quote_via=quote) if filters else "")
