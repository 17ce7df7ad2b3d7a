"""``GET /healthz``, ``GET /queues`` and ``GET /workers``: the server's liveness, each task
queue's depth and lag (where the executor keeps them) with the workers polling it, and the
tenant's workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from turnout.contracts.workers import WorkerInfo
from turnout.http.routes.common import client_of, guarded, json_response, text_param
from turnout.http.schemas import Health, QueueList, QueueView, WorkerList

__all__ = ["NAME_A_QUEUE", "NO_FIGURES", "health", "queue_list", "queues", "workers"]

NO_FIGURES = (
    "queue depth and lag come from the internal executor's tables; on Temporal "
    "read them from the Temporal server (temporal task-queue describe, its metrics)"
)
"""The note of ``GET /queues`` when the client keeps no queue figures."""

NAME_A_QUEUE = (
    "; the workers polling a queue are listed when it is named: GET /queues?task_queue=<name>"
)
"""Added to :data:`NO_FIGURES` when no queue is named: such an executor lists workers per
queue only."""


async def health(request: Request) -> Response:
    """``GET /healthz``: unauthenticated liveness."""
    executor = request.app.state.turnout.executor
    return json_response(Health(status="ok", executor=executor))


@guarded
async def queues(request: Request) -> Response:
    """``GET /queues``: each task queue's figures (when the executor keeps them) and its
    live workers; ``?task_queue=`` names one queue."""
    return json_response(await queue_list(client_of(request), text_param(request, "task_queue")))


@guarded
async def workers(request: Request) -> Response:
    """``GET /workers``: the tenant's live workers (of ``?task_queue=`` when given; the
    Temporal executor needs it)."""
    client = client_of(request)
    found: list[WorkerInfo] = await client.workers(text_param(request, "task_queue"))
    return json_response(WorkerList(items=found))


async def queue_list(client: Any, task_queue: str | None = None) -> QueueList:
    """The task queues as ``GET /queues`` answers them: with figures, the queues that have
    work or a worker (or only ``task_queue``); without them (Temporal), the workers of
    ``task_queue`` alone, since such an executor lists workers per queue."""
    figures: Sequence[Any] | None = await client.queue_figures()
    if figures is None:
        if task_queue is None:
            return QueueList(items=[], note=NO_FIGURES + NAME_A_QUEUE)
        polling = await client.workers(task_queue)
        view = QueueView(task_queue=task_queue, workers=polling, no_worker=not polling)
        return QueueList(items=[view], note=NO_FIGURES)
    live: list[WorkerInfo] = await client.workers(task_queue)
    rows: dict[str, QueueView] = {}
    for row in figures:
        if task_queue is None or row.task_queue == task_queue:
            rows[row.task_queue] = QueueView.model_validate(row, from_attributes=True)
    for name in {w.task_queue for w in live} | ({task_queue} if task_queue else set()):
        rows.setdefault(name, _idle(name))
    items = []
    for name in sorted(rows):
        polling = [w for w in live if w.task_queue == name]
        row = rows[name]
        busy = bool(row.depth or row.leased)
        items.append(row.model_copy(update={"workers": polling, "no_worker": busy and not polling}))
    return QueueList(items=items)


def _idle(task_queue: str) -> QueueView:
    """A queue with no figures: nothing ready, held or dead."""
    return QueueView(
        task_queue=task_queue,
        depth=0,
        depth_by_kind={},
        lag_seconds=0.0,
        leased=0,
        dead_letters=0,
    )
