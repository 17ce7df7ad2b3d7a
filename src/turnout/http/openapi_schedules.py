"""The schedules' part of the OpenAPI document: ``/schedules`` and the routes of one
schedule, and the bodies they take and answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from turnout.http.models import (
    BackfillRequest,
    NoteRequest,
    ScheduleAccepted,
    ScheduleList,
    ScheduleRequest,
    ScheduleView,
    TriggerRequest,
)
from turnout.http.openapi_parts import json_content, operation, path_id, ref

__all__ = ["SCHEDULE_MODELS", "SCHEDULE_REQUEST_MODELS", "schedule_paths"]

SCHEDULE_REQUEST_MODELS: list[type[BaseModel]] = [
    ScheduleRequest,
    NoteRequest,
    TriggerRequest,
    BackfillRequest,
]
"""The schedules' request bodies (their schemas in validation mode)."""

SCHEDULE_MODELS: list[type[BaseModel]] = [
    *SCHEDULE_REQUEST_MODELS,
    ScheduleView,
    ScheduleList,
    ScheduleAccepted,
]
"""Every body of the schedules' routes."""

_ID = path_id("The schedule id.")


def _on_schedule(
    summary: str, op_id: str, answers: dict[str, Any], body: str, *, required: bool = False
) -> dict[str, Any]:
    return {
        "post": operation(
            summary,
            op_id,
            answers,
            params=[_ID],
            body=body,
            body_required=required,
            errors=("404",),
        )
    }


def schedule_paths() -> dict[str, Any]:
    """The paths of ``/schedules`` and of one schedule."""
    described = {"200": json_content(ref("ScheduleView"), "the schedule as it is now")}
    return {
        "/schedules": {
            "get": operation(
                "The tenant's schedules, each with what it has done and will do",
                "listSchedules",
                {"200": json_content(ref("ScheduleList"), "the schedules")},
            ),
            "post": operation(
                "Create a schedule that starts a workflow by cron expressions, calendars or "
                "intervals",
                "createSchedule",
                {"201": json_content(ref("ScheduleView"), "the schedule was created")},
                body="ScheduleRequest",
                errors=("409", "413"),
            ),
        },
        "/schedules/{id}": {
            "get": operation(
                "A schedule: its spec, policy and state, its actions and next fire times",
                "describeSchedule",
                described,
                params=[_ID],
                errors=("404",),
            ),
            "delete": operation(
                "Delete a schedule (the runs it started go on)",
                "deleteSchedule",
                {"204": {"description": "the schedule was deleted"}},
                params=[_ID],
                errors=("403", "404"),
            ),
        },
        "/schedules/{id}/pause": _on_schedule(
            "Pause a schedule: fires that pass while it is paused are not caught up",
            "pauseSchedule",
            described,
            "NoteRequest",
        ),
        "/schedules/{id}/unpause": _on_schedule(
            "Unpause a schedule: it acts on fires again, from now on",
            "unpauseSchedule",
            described,
            "NoteRequest",
        ),
        "/schedules/{id}/trigger": _on_schedule(
            "Act once now, as a fire would",
            "triggerSchedule",
            {"202": json_content(ref("ScheduleAccepted"), "the action was requested")},
            "TriggerRequest",
        ),
        "/schedules/{id}/backfill": _on_schedule(
            "Act for every fire time between start_at and end_at as if it were now",
            "backfillSchedule",
            {"202": json_content(ref("ScheduleAccepted"), "the backfill was requested")},
            "BackfillRequest",
            required=True,
        ),
    }
