"""A schedule as JSON (how the internal executor stores it) and back, and the checks a
schedule passes before it is kept, the same on every executor."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pydantic_core
from pydantic import TypeAdapter

from turnout.contracts.limits import (
    InvalidInputError,
    check_name,
    check_optional_duration,
    check_payload,
    check_task_timeout,
    check_text,
)
from turnout.contracts.memo import check_memo
from turnout.contracts.schedule_times import check_spec
from turnout.contracts.schedules import (
    Schedule,
    ScheduleActionStartWorkflow,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from turnout.contracts.search_attributes import check_search_attributes, typed_from_stored

__all__ = ["check_schedule", "schedule_from_json", "schedule_to_json", "scheduled_workflow_id"]

_SPEC = TypeAdapter(ScheduleSpec)
_POLICY = TypeAdapter(SchedulePolicy)
_STATE = TypeAdapter(ScheduleState)
DEFAULT_CATCHUP_WINDOW = timedelta(days=365)
"""Temporal's catch-up window when a policy gives none."""


def scheduled_workflow_id(action_id: str, nominal: datetime) -> str:
    """The workflow id of the run a fire at ``nominal`` starts (Temporal's form)."""
    return f"{action_id}-{nominal.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def check_schedule(schedule_id: str, schedule: Any, resolve: Callable[[Any], str]) -> Schedule:
    """``schedule`` checked (InvalidInputError, one line, naming what is wrong), its
    workflow given by name (``resolve`` names a ``@workflow.run`` method) and its spec's
    times in UTC."""
    check_name(schedule_id, "the schedule id", example="nightly-report")
    if not isinstance(schedule, Schedule):
        raise InvalidInputError(
            f"the schedule is {type(schedule).__name__}; give Schedule(action=..., spec=...)"
        )
    action = schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow):
        raise InvalidInputError(
            "the schedule's action must be ScheduleActionStartWorkflow(workflow, id=..., "
            "task_queue=...), the one action turnout's schedules take"
        )
    name = resolve(action.workflow)
    check_name(action.id, "the schedule action's workflow id", example="nightly-report")
    check_name(action.task_queue, "the schedule action's task_queue")
    check_optional_duration(action.execution_timeout, "execution_timeout")
    check_optional_duration(action.run_timeout, "run_timeout")
    check_task_timeout(action.task_timeout)
    check_payload(pydantic_core.to_jsonable_python(action.args), f"the input of workflow {name}")
    check_memo(action.memo, "the schedule action's memo")
    check_search_attributes(
        action.typed_search_attributes, "the schedule action's search attributes"
    )
    if not isinstance(schedule.policy, SchedulePolicy) or not isinstance(
        schedule.state, ScheduleState
    ):
        raise InvalidInputError(
            "the schedule's policy and state are SchedulePolicy and ScheduleState"
        )
    window = schedule.policy.catchup_window
    if window is not None and window < timedelta(seconds=10):
        raise InvalidInputError("the catch-up window is at least 10 seconds (Temporal's minimum)")
    if schedule.state.note is not None:
        check_text(schedule.state.note, "the schedule's note")
    if schedule.state.limited_actions and schedule.state.remaining_actions < 0:
        raise InvalidInputError("remaining_actions cannot be negative")
    named = copy.copy(action)
    named.workflow = name
    policy = schedule.policy
    if policy.catchup_window is None:
        policy = replace(policy, catchup_window=DEFAULT_CATCHUP_WINDOW)
    return Schedule(named, check_spec(schedule.spec), policy, schedule.state)


def schedule_to_json(schedule: Schedule) -> dict[str, Any]:
    """The stored form of a checked schedule."""
    action = schedule.action
    return {
        "action": {
            "workflow": action.workflow,
            "args": pydantic_core.to_jsonable_python(action.args),
            "id": action.id,
            "task_queue": action.task_queue,
            "execution_timeout": _seconds(action.execution_timeout),
            "run_timeout": _seconds(action.run_timeout),
            "task_timeout": _seconds(action.task_timeout),
            "memo": check_memo(action.memo) or None,
            "search_attributes": check_search_attributes(action.typed_search_attributes) or None,
        },
        "spec": _SPEC.dump_python(schedule.spec, mode="json"),
        "policy": _POLICY.dump_python(schedule.policy, mode="json"),
        "state": _STATE.dump_python(schedule.state, mode="json"),
    }


def _duration(seconds: float | None) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds is not None else None


def schedule_from_json(stored: dict[str, Any]) -> Schedule:
    """The schedule of its stored form."""
    a = stored["action"]
    action = ScheduleActionStartWorkflow(
        a["workflow"],
        args=a["args"],
        id=a["id"],
        task_queue=a["task_queue"],
        execution_timeout=_duration(a.get("execution_timeout")),
        run_timeout=_duration(a.get("run_timeout")),
        task_timeout=_duration(a.get("task_timeout")),
        memo=a.get("memo"),
        typed_search_attributes=typed_from_stored(a.get("search_attributes")),
    )
    return Schedule(
        action,
        check_spec(_SPEC.validate_python(stored["spec"])),
        _POLICY.validate_python(stored["policy"]),
        _STATE.validate_python(stored["state"]),
    )
