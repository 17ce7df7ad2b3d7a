"""The console's schedule pages, read through the request's tenant client:

- ``GET /console/schedules``: the tenant's schedules (id, workflow, state, actions, next
  fire), refreshed every two seconds (``?partial=list``);
- ``GET /console/schedules/{id}``: one schedule: when it fires in words, its policy,
  state and note, what it has done (recent actions link to their runs) and its next fire
  times (``?partial=detail`` is that part alone, which the page re-reads).

Pause, unpause, trigger and delete are sent by the page's script
(``static/console/schedule.js``) to the JSON API's ``/schedules`` routes, with the
console's header, as any API client would.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from turnout.http.console_kit import PageGroup, error_page, page_client, to_login
from turnout.http.errors import ApiError
from turnout.http.limits import name_problem
from turnout.http.routes.common import path_param
from turnout.http.routes.schedules import schedule_view, tenant_schedules
from turnout.http.schedule_words import OVERLAP_WORDS, duration_words, spec_words

__all__ = ["SCHEDULES_PATH", "SchedulePages"]

SCHEDULES_PATH = "/console/schedules"
"""Where the console's schedule pages live (``/schedules`` is the JSON API's)."""


class SchedulePages(PageGroup):
    """The schedule pages, rendered by the console's :class:`Renders`."""

    def routes(self) -> list[BaseRoute]:
        """The routes of the schedule pages."""
        return [
            Route(SCHEDULES_PATH, self.listing, methods=["GET"], name="console_schedules"),
            Route(
                SCHEDULES_PATH + "/{id:path}",
                self.detail,
                methods=["GET"],
                name="console_schedule",
            ),
        ]

    @error_page
    async def listing(self, request: Request) -> Response:
        """The tenant's schedules."""
        client = page_client(request)
        if client is None:
            return to_login(request)
        context: dict[str, Any] = {"schedules": await tenant_schedules(client)}
        if request.query_params.get("partial") == "list":
            return self.page(request, "_schedules.html", context)
        deleted = request.query_params.get("deleted", "")
        context["deleted"] = deleted if name_problem(deleted, "id") is None else None
        return self.page(request, "schedules.html", context)

    @error_page
    async def detail(self, request: Request) -> Response:
        """One schedule: its spec in words, policy, state, actions and next fires."""
        client = page_client(request)
        if client is None:
            return to_login(request)
        schedule_id = path_param(request, "id")
        if name_problem(schedule_id, "the schedule id") is not None:
            raise ApiError(404, "schedule_not_found", "no schedule can have this id")
        view = schedule_view(await client.get_schedule_handle(schedule_id).describe())
        context: dict[str, Any] = {
            "view": view,
            "info": view.info,
            "spec_lines": spec_words(view),
            "overlap_words": OVERLAP_WORDS.get(view.overlap, ""),
            "catchup": duration_words(view.catchup_window.total_seconds())
            if view.catchup_window
            else "a year",
            "recent": list(reversed(view.info.recent_actions)),
        }
        if request.query_params.get("partial") == "detail":
            return self.page(request, "_schedule_detail.html", context)
        return self.page(request, "schedule.html", context)
