"""The console's workers page, read through the request's tenant client:

- ``GET /console/workers``: each task queue's live workers (identity, host, process,
  workflow and activity types, slots, last seen), and a warning for a queue with work
  that no worker polls; ``?task_queue=`` shows one queue (the Temporal executor lists
  workers per queue only: there the page asks for one). ``?partial=list`` is the list
  alone, which the page re-reads every two seconds.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from turnout.http.console_kit import PageGroup, error_page, page_client, to_login
from turnout.http.limits import name_problem
from turnout.http.routes.queues import queue_list

__all__ = ["WORKERS_PATH", "WorkerPages"]

WORKERS_PATH = "/console/workers"
"""Where the console's workers page lives (``/workers`` is the JSON API's)."""


class WorkerPages(PageGroup):
    """The workers page, rendered by the console's :class:`Renders`."""

    def routes(self) -> list[BaseRoute]:
        """The route of the workers page."""
        return [Route(WORKERS_PATH, self.listing, methods=["GET"], name="console_workers")]

    @error_page
    async def listing(self, request: Request) -> Response:
        """Each task queue with its workers (or the one named by ``?task_queue=``)."""
        client = page_client(request)
        if client is None:
            return to_login(request)
        named = request.query_params.get("task_queue", "").strip()
        problem = name_problem(named, "the task queue") if named else None
        queues = await queue_list(client, named if named and problem is None else None)
        context: dict[str, Any] = {
            "queues": queues,
            "task_queue": named,
            "problem": None if problem is None else problem[0].upper() + problem[1:] + ".",
            "live_url": WORKERS_PATH
            + (f"?{urlencode({'task_queue': named})}" if named and problem is None else ""),
        }
        status = 400 if problem else 200
        if request.query_params.get("partial") == "list":
            return self.page(request, "_workers.html", context, status)
        return self.page(request, "workers.html", context, status)
