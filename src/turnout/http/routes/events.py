"""``GET /workflows/{id}/events``: a run's timeline as JSON, or a live Server-Sent Events
stream that follows the run until it closes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from turnout.contracts.events import Event, EventType
from turnout.contracts.executor import RunWatch
from turnout.contracts.records import Run
from turnout.http.errors import ApiError, from_exception
from turnout.http.routes.common import (
    MAX_SEQ,
    client_of,
    guarded,
    int_param,
    json_response,
    run_of,
)

__all__ = ["CLOSING_EVENTS", "workflow_events"]

CLOSING_EVENTS = frozenset(
    {
        EventType.WORKFLOW_COMPLETED,
        EventType.WORKFLOW_FAILED,
        EventType.WORKFLOW_CANCELED,
        EventType.WORKFLOW_TERMINATED,
        EventType.WORKFLOW_TIMED_OUT,
        EventType.WORKFLOW_CONTINUED_AS_NEW,
    }
)
"""Event types that close a run: a stream that sends one ends."""


async def _events_after(client: Any, run: Run, after: int) -> list[Event]:
    events: list[Event] = await client.events_after(run.workflow_id, run.run_id, after)
    return events


@guarded
async def workflow_events(request: Request) -> Response:
    """``GET /workflows/{id}/events``: JSON, or a live SSE stream when asked for."""
    after = int_param(request, "after", 0, 0, MAX_SEQ)
    handle, run = await run_of(request)
    if "text/event-stream" not in request.headers.get("accept", ""):
        return json_response(await _events_after(client_of(request), run, after))
    last_id = request.headers.get("last-event-id")
    if last_id:
        try:
            after = int(last_id)
            if not 0 <= after <= MAX_SEQ:
                raise ValueError(last_id)
        except ValueError:
            raise ApiError(
                422, "invalid_parameter", f"Last-Event-ID {last_id!r} is not an event seq"
            ) from None
    poll = request.app.state.turnout.sse_poll_interval
    keepalive = request.app.state.turnout.sse_keepalive
    return StreamingResponse(
        _stream(request, handle, run, after, poll, keepalive),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _watch(client: Any, run: Run) -> contextlib.AbstractAsyncContextManager[RunWatch]:
    """The client's watch on the run; a client that cannot watch is polled."""
    watch_run = getattr(client, "watch_run", None)
    if watch_run is None:
        return contextlib.nullcontext(RunWatch())
    found: contextlib.AbstractAsyncContextManager[RunWatch] = watch_run(run.workflow_id, run.run_id)
    return found


async def _stream(
    request: Request, handle: Any, run: Run, after: int, poll: float, keepalive: float
) -> AsyncIterator[str]:
    """Past events after ``after``, then new ones as they are written, until the run closes.

    The client's watch on the run wakes the stream when there may be news (with a read of
    the new events every ``poll`` seconds as the fallback, unless the watch follows the run).
    The run closed when a closing event is sent; describe() is asked only when the run
    was already closed, after a wake-up, or once per keepalive interval (a safety net).
    """
    loop = asyncio.get_running_loop()
    quiet_since = checked_at = loop.time()
    state = request.app.state.turnout
    client = client_of(request)
    closed = run.state.is_terminal
    yield f"retry: {int(max(poll, 1.0) * 1000)}\n\n"
    woken = True
    async with _watch(client, run) as watch:
        while not state.stopping:  # a stopping server ends its streams; clients reconnect
            try:
                read = woken or closed or not watch.following
                fresh = await _events_after(client, run, after) if read else []
            except Exception as exc:
                error = from_exception(exc)
                payload = json.dumps({"error": {"code": error.code, "message": error.message}})
                yield f"event: error\ndata: {payload}\n\n"
                return
            for event in fresh:
                after = event.seq
                yield (
                    f"id: {event.seq}\nevent: {event.type.value}\n"
                    f"data: {event.model_dump_json()}\n\n"
                )
                quiet_since = loop.time()
                closed = closed or event.type in CLOSING_EVENTS
            if closed:  # events read after the close was seen include the closing ones
                return
            if loop.time() - quiet_since >= keepalive:
                yield ": keep-alive\n\n"
                quiet_since = loop.time()
            woken = await watch.wait(poll)
            if woken or loop.time() - checked_at >= keepalive:
                checked_at = loop.time()
                try:
                    closed = (await handle.describe()).state.is_terminal
                except Exception:
                    closed = False  # the next read of the events reports the error
