"""``GET /healthz`` and ``GET /queues``: the server's liveness, and depth and lag per task
queue where the executor keeps them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from turnout.http.routes.common import client_of, guarded, json_response
from turnout.http.schemas import Health, QueueList, QueueView

__all__ = ["NO_FIGURES", "health", "queues"]

NO_FIGURES = (
    "queue depth and lag come from the internal executor's tables; on Temporal "
    "read them from the Temporal server (temporal task-queue describe, its metrics)"
)
"""The note of ``GET /queues`` when the client keeps no queue figures."""


async def health(request: Request) -> Response:
    """``GET /healthz``: unauthenticated liveness."""
    executor = request.app.state.turnout.executor
    return json_response(Health(status="ok", executor=executor))


@guarded
async def queues(request: Request) -> Response:
    """``GET /queues``: depth and lag per task queue (when the executor keeps them)."""
    client = client_of(request)
    figures = await client.queue_figures() if hasattr(client, "queue_figures") else None
    if figures is None:
        return json_response(QueueList(items=[], note=NO_FIGURES))
    items = [QueueView.model_validate(row, from_attributes=True) for row in figures]
    return json_response(QueueList(items=items))
