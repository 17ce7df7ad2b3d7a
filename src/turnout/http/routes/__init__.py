"""The JSON routes of the HTTP API, one module per resource; each acts through the request's
tenant client and never asks which executor it is.

- :mod:`~turnout.http.routes.workflows`: start, list, describe, signal, query, cancel,
  terminate (:mod:`~turnout.http.routes.pages`: the listing's cursor);
- :mod:`~turnout.http.routes.events`: a run's events, as JSON or a live stream;
- :mod:`~turnout.http.routes.approvals`: approvals, policy decisions, artifacts;
- :mod:`~turnout.http.routes.schedules`: create, list, describe, pause, unpause,
  trigger, backfill and delete schedules;
- :mod:`~turnout.http.routes.queues`: ``/healthz``, queue figures and workers;
- :mod:`~turnout.http.routes.common`: reading requests and answering them.

A new route goes in its resource's module, is listed in :func:`routes` (before any
route whose path would match it: ``/workflows/{id:path}`` comes last), and is described
in :func:`turnout.http.schemas.openapi_document`.
"""

from __future__ import annotations

from starlette.routing import Route

from turnout.http.routes.approvals import decision, pending_approvals, records
from turnout.http.routes.events import workflow_events
from turnout.http.routes.queues import health, queues, workers
from turnout.http.routes.schedules import (
    backfill_schedule,
    pause_schedule,
    schedule,
    schedules,
    trigger_schedule,
    unpause_schedule,
)
from turnout.http.routes.workflows import (
    cancel_workflow,
    describe_workflow,
    query_workflow,
    signal_workflow,
    terminate_workflow,
    workflows,
)

__all__ = ["routes"]


def routes() -> list[Route]:
    """The API's routes (``/openapi.json`` is added by the app)."""
    return [
        Route("/healthz", health, methods=["GET"]),
        Route("/workflows", workflows, methods=["GET", "POST"]),
        Route("/workflows/{id:path}/events", workflow_events, methods=["GET"]),
        Route("/workflows/{id:path}/signals/{name}", signal_workflow, methods=["POST"]),
        Route("/workflows/{id:path}/queries/{name}", query_workflow, methods=["GET"]),
        Route("/workflows/{id:path}/cancel", cancel_workflow, methods=["POST"]),
        Route("/workflows/{id:path}/terminate", terminate_workflow, methods=["POST"]),
        Route(
            "/workflows/{id:path}/approvals/{name}/approve", decision("approve"), methods=["POST"]
        ),
        Route("/workflows/{id:path}/approvals/{name}/reject", decision("reject"), methods=["POST"]),
        Route("/workflows/{id:path}/approvals", records("approvals"), methods=["GET"]),
        Route("/workflows/{id:path}/decisions", records("policy_decisions"), methods=["GET"]),
        Route("/workflows/{id:path}/artifacts", records("artifacts"), methods=["GET"]),
        Route("/workflows/{id:path}", describe_workflow, methods=["GET"]),
        Route("/approvals", pending_approvals, methods=["GET"]),
        Route("/queues", queues, methods=["GET"]),
        Route("/workers", workers, methods=["GET"]),
        Route("/schedules", schedules, methods=["GET", "POST"]),
        Route("/schedules/{id:path}/pause", pause_schedule, methods=["POST"]),
        Route("/schedules/{id:path}/unpause", unpause_schedule, methods=["POST"]),
        Route("/schedules/{id:path}/trigger", trigger_schedule, methods=["POST"]),
        Route("/schedules/{id:path}/backfill", backfill_schedule, methods=["POST"]),
        Route("/schedules/{id:path}", schedule, methods=["GET", "DELETE"]),
    ]
