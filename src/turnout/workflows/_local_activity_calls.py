"""Local activities (``workflow.execute_local_activity`` and its method and class forms).

A local activity runs in the worker that runs the workflow, during the workflow task
that asked for it, with no queue round trip; its outcome is recorded in the history with
that task, so replay reads it instead of running the activity again. It retries under
its retry policy in the worker. Use it for short work that needs no heartbeats.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from turnout.contracts.executor import ARG_UNSET, call_args
from turnout.contracts.limits import InvalidInputError, check_name, check_optional_duration
from turnout.contracts.retry import RetryPolicy
from turnout.workflows._activity_calls import ActivityHandle, activity_result_type
from turnout.workflows._runtime import (
    ActivityCancellationType,
    LocalActivityOptions,
    current_workflow_runtime,
)

__all__ = [
    "execute_local_activity",
    "execute_local_activity_class",
    "execute_local_activity_method",
    "start_local_activity",
    "start_local_activity_class",
    "start_local_activity_method",
]

_TIMEOUTS = (
    "schedule_to_close_timeout",
    "schedule_to_start_timeout",
    "start_to_close_timeout",
    "local_retry_threshold",
)


def _options(activity: Any, **options: Any) -> LocalActivityOptions:
    """The checked options of a local activity call (a bad one fails the workflow task)."""
    if isinstance(activity, str):
        check_name(activity, "the activity type", example="charge")
    if options["start_to_close_timeout"] is None and options["schedule_to_close_timeout"] is None:
        raise InvalidInputError(
            "local activity needs start_to_close_timeout or schedule_to_close_timeout "
            "(e.g. start_to_close_timeout=timedelta(seconds=5))"
        )
    for timeout in _TIMEOUTS:
        options[timeout] = check_optional_duration(options[timeout], timeout)
    if options["activity_id"] is not None:
        check_name(options["activity_id"], "the activity_id", example="lookup-1")
    if options["retry_policy"] is not None and not isinstance(options["retry_policy"], RetryPolicy):
        raise InvalidInputError(
            f"retry_policy must be a turnout.RetryPolicy, got {type(options['retry_policy'])}"
        )
    options["cancellation_type"] = ActivityCancellationType(options["cancellation_type"])
    return LocalActivityOptions(**options)


def start_local_activity(
    activity: Callable[..., Any] | str,
    arg: Any = ARG_UNSET,
    *,
    args: Sequence[Any] = (),
    result_type: Any = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    local_retry_threshold: timedelta | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    activity_id: str | None = None,
) -> ActivityHandle:
    """Start a local activity and return a handle (an awaitable task) on its result.

    One of ``start_to_close_timeout`` or ``schedule_to_close_timeout`` is required.
    """
    options = _options(
        activity,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        retry_policy=retry_policy,
        local_retry_threshold=local_retry_threshold,
        activity_id=activity_id,
        cancellation_type=cancellation_type,
    )
    started = current_workflow_runtime().start_local_activity(
        activity, call_args(arg, args), options, activity_result_type(activity, result_type)
    )
    return asyncio.ensure_future(started)


async def execute_local_activity(
    activity: Callable[..., Any] | str,
    arg: Any = ARG_UNSET,
    *,
    args: Sequence[Any] = (),
    result_type: Any = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    local_retry_threshold: timedelta | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    activity_id: str | None = None,
) -> Any:
    """Run a local activity and return its result; failures raise ``ActivityError``."""
    return await start_local_activity(
        activity,
        arg,
        args=args,
        result_type=result_type,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        retry_policy=retry_policy,
        local_retry_threshold=local_retry_threshold,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
    )


# The method and class forms, as for regular activities: the activity is named by its
# definition either way.
execute_local_activity_method = execute_local_activity
start_local_activity_method = start_local_activity
execute_local_activity_class = execute_local_activity
start_local_activity_class = start_local_activity
