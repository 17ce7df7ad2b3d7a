"""Calling activities from workflow code (``workflow.execute_activity`` and its method and
class forms), and human approvals, which a worker policy can require of an activity.

``turnout.workflow`` re-exports these; they forward to the runtime of the executor that
runs the code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from turnout.contracts.errors import ActivityError, ApplicationError, RetryState
from turnout.contracts.executor import ARG_UNSET, call_args
from turnout.contracts.governance import APPROVAL_REJECTED, APPROVAL_REQUIRED
from turnout.contracts.limits import InvalidInputError, check_name, check_optional_duration
from turnout.contracts.records import PolicyDecision
from turnout.contracts.retry import RetryPolicy
from turnout.workflows._definitions import ActivityDefinition
from turnout.workflows._runtime import (
    ActivityCancellationType,
    ActivityOptions,
    current_workflow_runtime,
)

__all__ = [
    "ActivityHandle",
    "activity_result_type",
    "execute_activity",
    "execute_activity_class",
    "execute_activity_method",
    "request_approval",
    "seconds_of",
    "start_activity",
    "start_activity_class",
    "start_activity_method",
]

ActivityHandle = Any  # an awaitable asyncio.Task-like object resolving to the activity result


def seconds_of(duration: float | timedelta) -> float:
    return duration.total_seconds() if isinstance(duration, timedelta) else float(duration)


def activity_result_type(activity: Any, result_type: Any) -> Any:
    """The type an activity's result converts to: ``result_type``, else its annotation."""
    if result_type is not None:
        return result_type
    defn = ActivityDefinition.from_callable(activity) if callable(activity) else None
    return defn.return_type if defn else Any


_TIMEOUTS = (
    "schedule_to_close_timeout",
    "schedule_to_start_timeout",
    "start_to_close_timeout",
    "heartbeat_timeout",
)


def _activity_options(activity: Any, **options: Any) -> ActivityOptions:
    """The checked options of an activity call; a bad one raises InvalidInputError in the
    workflow code, which fails the workflow task visibly before anything is scheduled."""
    if isinstance(activity, str):
        check_name(activity, "the activity type", example="charge")
    if options["start_to_close_timeout"] is None and options["schedule_to_close_timeout"] is None:
        raise InvalidInputError(
            "activity needs start_to_close_timeout or schedule_to_close_timeout "
            "(e.g. start_to_close_timeout=timedelta(seconds=30))"
        )
    for timeout in _TIMEOUTS:
        options[timeout] = check_optional_duration(options[timeout], timeout)
    if options["task_queue"] is not None:
        check_name(options["task_queue"], "the activity's task_queue")
    if options["activity_id"] is not None:
        check_name(options["activity_id"], "the activity_id", example="charge-1")
    if options["retry_policy"] is not None and not isinstance(options["retry_policy"], RetryPolicy):
        raise InvalidInputError(
            f"retry_policy must be a turnout.RetryPolicy, got {type(options['retry_policy'])}"
        )
    return ActivityOptions(**options)


def start_activity(
    activity: Callable[..., Any] | str,
    arg: Any = ARG_UNSET,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    activity_id: str | None = None,
    result_type: Any = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
) -> ActivityHandle:
    """Schedule an activity and return a handle (an awaitable task) on its result.

    One of ``start_to_close_timeout`` or ``schedule_to_close_timeout`` is required.
    """
    options = _activity_options(
        activity,
        task_queue=task_queue,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=retry_policy,
        activity_id=activity_id,
        cancellation_type=ActivityCancellationType(cancellation_type),
    )
    args_list = call_args(arg, args)
    result_type = activity_result_type(activity, result_type)
    scheduled = current_workflow_runtime().start_activity(activity, args_list, options, result_type)
    return asyncio.ensure_future(
        _governed_activity(activity, args_list, options, result_type, scheduled)
    )


async def execute_activity(
    activity: Callable[..., Any] | str,
    arg: Any = ARG_UNSET,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    activity_id: str | None = None,
    result_type: Any = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
) -> Any:
    """Run an activity and return its result; failures raise ``ActivityError``."""
    options = _activity_options(
        activity,
        task_queue=task_queue,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=retry_policy,
        activity_id=activity_id,
        cancellation_type=ActivityCancellationType(cancellation_type),
    )
    return await _governed_activity(
        activity, call_args(arg, args), options, activity_result_type(activity, result_type)
    )


async def _governed_activity(
    activity: Callable[..., Any] | str,
    args: list[Any],
    options: ActivityOptions,
    result_type: Any,
    scheduled: Awaitable[Any] | None = None,
) -> Any:
    """Run an activity; when a worker policy holds it for an approval, ask for the approval
    and run it again once approved (a rejection or timeout fails it, never retried)."""
    if scheduled is None:
        scheduled = current_workflow_runtime().start_activity(activity, args, options, result_type)
    try:
        return await scheduled
    except ActivityError as exc:
        held = _approval_hold(exc)
        if held is None:
            raise
        decision = await request_approval(
            held["approval"],
            details={"activity_type": exc.activity_type, "reason": held.get("reason")},
            timeout=held.get("timeout"),
        )
        if not decision.approved:
            rejected = ActivityError(
                exc.message,
                activity_type=exc.activity_type,
                activity_id=exc.activity_id,
                retry_state=RetryState.NON_RETRYABLE_FAILURE,
            )
            by = f" by {decision.decided_by}" if decision.decided_by else ""
            why = f": {decision.reason}" if decision.reason else ""
            raise rejected from ApplicationError(
                f"approval {held['approval']!r} was {decision.outcome.value}{by}{why}",
                type=APPROVAL_REJECTED,
                non_retryable=True,
            )
    return await current_workflow_runtime().start_activity(activity, args, options, result_type)


def _approval_hold(exc: ActivityError) -> dict[str, Any] | None:
    cause = exc.cause
    if not isinstance(cause, ApplicationError) or cause.type != APPROVAL_REQUIRED:
        return None
    held = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
    return {"approval": held.get("approval") or exc.activity_type, **held}


async def request_approval(
    name: str,
    *,
    details: dict[str, Any] | None = None,
    timeout: float | timedelta | None = None,
) -> PolicyDecision:
    """Wait until a person approves or rejects ``name`` for this run (or ``timeout`` passes).

    Meanwhile the run's state is ``waiting_approval``. Returns the decision: its
    ``outcome`` is ``approved``, ``rejected`` or ``timed_out``. Decide from outside
    with ``handle.approve(name, by=...)`` / ``handle.reject(...)`` or ``turnout approve``.
    """
    if not name or not isinstance(name, str):
        raise InvalidInputError("request_approval needs a name, e.g. request_approval('deploy')")
    check_name(name, "the approval name", example="deploy")
    seconds = None
    if timeout is not None:
        seconds = check_optional_duration(seconds_of(timeout), "the approval timeout")
    return await current_workflow_runtime().request_approval(
        name, dict(details or {}), seconds.total_seconds() if seconds is not None else None
    )


# temporalio's names for calling an activity declared on a method (``MyActivities.fetch``,
# run by a worker given ``MyActivities(...).fetch``) or on a callable class
# (``MyActivity``, run by a worker given ``MyActivity(...)``): the same calls, since the
# activity is named by its definition either way.
execute_activity_method = execute_activity
start_activity_method = start_activity
execute_activity_class = execute_activity
start_activity_class = start_activity
