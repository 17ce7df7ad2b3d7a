"""``/schedules``: create and list the tenant's schedules; describe, pause, unpause,
trigger, backfill and delete one. Each acts through the tenant client's schedule API
(``create_schedule``, ``get_schedule_handle``, ``list_schedules``), on every executor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydantic_core
from starlette.requests import Request
from starlette.responses import Response

from turnout.contracts.schedules import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)
from turnout.http.errors import ApiError
from turnout.http.limits import name_problem
from turnout.http.models import (
    BackfillRequest,
    CalendarBody,
    IntervalBody,
    NoteRequest,
    RangeBody,
    ScheduleAccepted,
    ScheduleList,
    ScheduleRequest,
    ScheduleView,
    TriggerRequest,
)
from turnout.http.routes.common import (
    Handler,
    checking_input,
    client_of,
    guarded,
    json_response,
    path_param,
    read_model,
)

__all__ = [
    "backfill_schedule",
    "pause_schedule",
    "schedule",
    "schedule_of",
    "schedule_view",
    "schedules",
    "tenant_schedules",
    "trigger_schedule",
    "unpause_schedule",
]


# --------------------------------------------------------------------------- bodies


def _ranges_of(ranges: Sequence[RangeBody]) -> tuple[ScheduleRange, ...]:
    return tuple(ScheduleRange(r.start, r.end, r.step) for r in ranges)


def _calendar_of(body: CalendarBody) -> ScheduleCalendarSpec:
    return ScheduleCalendarSpec(
        second=_ranges_of(body.second),
        minute=_ranges_of(body.minute),
        hour=_ranges_of(body.hour),
        day_of_month=_ranges_of(body.day_of_month),
        month=_ranges_of(body.month),
        year=_ranges_of(body.year),
        day_of_week=_ranges_of(body.day_of_week),
        comment=body.comment,
    )


def schedule_of(body: ScheduleRequest) -> Schedule:
    """The :class:`Schedule` a ``POST /schedules`` body describes (checked by the client)."""
    intervals = [
        ScheduleIntervalSpec(every=i.every, offset=i.offset)
        if isinstance(i, IntervalBody)
        else ScheduleIntervalSpec(every=i)
        for i in body.intervals
    ]
    return Schedule(
        action=ScheduleActionStartWorkflow(
            body.workflow,
            args=body.args,
            id=body.workflow_id or body.id,
            task_queue=body.task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[_calendar_of(c) for c in body.calendars],
            intervals=intervals,
            cron_expressions=list(body.cron_expressions),
            skip=[_calendar_of(c) for c in body.skip],
            start_at=body.start_at,
            end_at=body.end_at,
            jitter=body.jitter,
            time_zone_name=body.time_zone_name,
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy[body.overlap],
            catchup_window=body.catchup_window,
            pause_on_failure=body.pause_on_failure,
        ),
        state=ScheduleState(
            note=body.note,
            paused=body.paused,
            limited_actions=body.limited_actions,
            remaining_actions=body.remaining_actions,
        ),
    )


def _ranges_json(ranges: Sequence[ScheduleRange]) -> list[dict[str, int]]:
    return [{"start": r.start, "end": r.end, "step": r.step} for r in ranges]


def _calendar_json(calendar: ScheduleCalendarSpec) -> dict[str, Any]:
    fields = ("second", "minute", "hour", "day_of_month", "month", "year", "day_of_week")
    found: dict[str, Any] = {f: _ranges_json(getattr(calendar, f)) for f in fields}
    return {**found, "comment": calendar.comment}


def schedule_view(described: ScheduleDescription) -> ScheduleView:
    """A schedule's description as the API answers it."""
    s, info = described.schedule, described.info
    spec, action = s.spec, s.action
    return ScheduleView.model_validate(
        {
            "id": described.id,
            "workflow": str(action.workflow),
            "task_queue": action.task_queue,
            "args": pydantic_core.to_jsonable_python(action.args),
            "workflow_id": action.id,
            "cron_expressions": list(spec.cron_expressions),
            "calendars": [_calendar_json(c) for c in spec.calendars],
            "intervals": [{"every": i.every, "offset": i.offset} for i in spec.intervals],
            "skip": [_calendar_json(c) for c in spec.skip],
            "start_at": spec.start_at,
            "end_at": spec.end_at,
            "jitter": spec.jitter,
            "time_zone_name": spec.time_zone_name,
            "overlap": s.policy.overlap.name,
            "catchup_window": s.policy.catchup_window,
            "pause_on_failure": s.policy.pause_on_failure,
            "paused": s.state.paused,
            "note": s.state.note,
            "limited_actions": s.state.limited_actions,
            "remaining_actions": s.state.remaining_actions,
            "info": {
                "num_actions": info.num_actions,
                "num_actions_missed_catchup_window": info.num_actions_missed_catchup_window,
                "num_actions_skipped_overlap": info.num_actions_skipped_overlap,
                "running_actions": [
                    {"workflow_id": a.workflow_id, "run_id": a.first_execution_run_id}
                    for a in info.running_actions
                ],
                "recent_actions": [
                    {
                        "workflow_id": r.action.workflow_id,
                        "run_id": r.action.first_execution_run_id,
                        "scheduled_at": r.scheduled_at,
                        "started_at": r.started_at,
                    }
                    for r in info.recent_actions
                ],
                "next_action_times": list(info.next_action_times),
                "created_at": info.created_at,
                "last_updated_at": info.last_updated_at,
            },
        }
    )


# --------------------------------------------------------------------------- routes


def _handle_of(request: Request) -> Any:
    """The handle of the path's schedule id (one no schedule can have is not found)."""
    schedule_id = path_param(request, "id")
    if name_problem(schedule_id, "the schedule id") is not None:
        raise ApiError(
            404,
            "schedule_not_found",
            f"schedule {schedule_id[:80]!r} was not found: a schedule id is 1-255 printable "
            "characters",
        )
    return client_of(request).get_schedule_handle(schedule_id)


def _overlap(name: str | None) -> ScheduleOverlapPolicy | None:
    return ScheduleOverlapPolicy[name] if name is not None else None


async def _described(handle: Any) -> Response:
    return json_response(schedule_view(await handle.describe()))


async def tenant_schedules(client: Any) -> list[ScheduleView]:
    """The schedules of ``client``'s tenant, each with what it has done and will do."""
    return [schedule_view(s) async for s in await client.list_schedules()]


async def list_schedules(request: Request) -> Response:
    """``GET /schedules``: the tenant's schedules with what each has done and will do."""
    return json_response(ScheduleList(items=await tenant_schedules(client_of(request))))


async def create_schedule(request: Request) -> Response:
    """``POST /schedules``: keep a schedule (201 with its description)."""
    body = await read_model(request, ScheduleRequest)
    client = client_of(request)
    with checking_input():
        handle = await client.create_schedule(body.id, schedule_of(body))
    return json_response(schedule_view(await handle.describe()), 201)


@guarded
async def schedules(request: Request) -> Response:
    """``/schedules``: GET lists, POST creates (one route, so 405 answers list both)."""
    if request.method == "POST":
        return await create_schedule(request)
    return await list_schedules(request)


@guarded
async def schedule(request: Request) -> Response:
    """``/schedules/{id}``: GET describes, DELETE deletes (its runs go on; 204)."""
    handle = _handle_of(request)
    if request.method == "DELETE":
        await handle.delete()
        return Response(status_code=204)
    return await _described(handle)


def _noted(verb: str, doc: str) -> Handler:
    """``POST /schedules/{id}/<verb>`` (pause or unpause), with an optional note."""

    @guarded
    async def route(request: Request) -> Response:
        body = await read_model(request, NoteRequest, optional=True)
        handle = _handle_of(request)
        with checking_input():
            await getattr(handle, verb)(note=body.note)
        return await _described(handle)

    route.__name__ = f"{verb}_schedule"
    route.__doc__ = doc
    return route


pause_schedule = _noted(
    "pause", "``POST /schedules/{id}/pause``: stop acting on fires (with a note saying why)."
)
unpause_schedule = _noted(
    "unpause", "``POST /schedules/{id}/unpause``: act on fires again, from now on."
)


@guarded
async def trigger_schedule(request: Request) -> Response:
    """``POST /schedules/{id}/trigger``: act once now, as a fire would (202)."""
    body = await read_model(request, TriggerRequest, optional=True)
    handle = _handle_of(request)
    await handle.trigger(overlap=_overlap(body.overlap))
    return json_response(ScheduleAccepted(schedule_id=handle.id, requested="trigger"), 202)


@guarded
async def backfill_schedule(request: Request) -> Response:
    """``POST /schedules/{id}/backfill``: act for every fire time of the period (202)."""
    body = await read_model(request, BackfillRequest)
    handle = _handle_of(request)
    if body.end_at < body.start_at:
        raise ApiError(422, "invalid_input", "the backfill's end_at is before its start_at")
    with checking_input():
        await handle.backfill(ScheduleBackfill(body.start_at, body.end_at, _overlap(body.overlap)))
    return json_response(ScheduleAccepted(schedule_id=handle.id, requested="backfill"), 202)
