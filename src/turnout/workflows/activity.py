"""``turnout.activity``: the decorator and functions for activity code."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NoReturn, TypeVar, overload

from turnout.contracts.payloads import PayloadConverter
from turnout.contracts.records import Artifact
from turnout.workflows._definitions import define_activity
from turnout.workflows._runtime import (
    ActivityInfo,
    ArtifactSpec,
    NotInActivityError,
    _activity_runtime,
    current_activity_runtime,
)

__all__ = [
    "Info",
    "NotInActivityError",
    "client",
    "defn",
    "heartbeat",
    "in_activity",
    "info",
    "is_cancelled",
    "logger",
    "payload_converter",
    "raise_complete_async",
    "record_artifact",
    "wait_for_cancelled",
    "wait_for_cancelled_sync",
]

Info = ActivityInfo
FnT = TypeVar("FnT", bound=Callable[..., Any])


@overload
def defn(fn: FnT) -> FnT: ...
@overload
def defn(*, name: str | None = None, dynamic: bool = False) -> Callable[[FnT], FnT]: ...
def defn(
    fn: FnT | None = None, *, name: str | None = None, dynamic: bool = False
) -> FnT | Callable[[FnT], FnT]:
    """Declare an activity (``async def`` or plain ``def``; sync ones run in a thread pool).

    ``name`` is its stable type name (default: the function name). ``dynamic=True``
    (without a name) runs every activity type no registered activity has: it takes
    ``args: Sequence[RawValue]`` and ``activity.info().activity_type`` names the type.
    """

    def decorate(f: FnT) -> FnT:
        define_activity(f, name, dynamic=dynamic)
        return f

    return decorate(fn) if fn is not None else decorate


def in_activity() -> bool:
    """True inside an activity."""
    return _activity_runtime.get() is not None


def info() -> ActivityInfo:
    """The current activity's id, type, attempt, workflow, heartbeat details, ..."""
    return current_activity_runtime().info()


def heartbeat(*details: Any) -> None:
    """Report progress: extends the lease, records ``details`` for the next attempt,
    and lets a cancellation reach the activity."""
    current_activity_runtime().heartbeat(*details)


def is_cancelled() -> bool:
    """True once cancellation of this activity was requested."""
    return current_activity_runtime().is_cancelled()


async def wait_for_cancelled() -> None:
    """Wait until this activity is asked to cancel (it learns of it through heartbeats)."""
    await current_activity_runtime().wait_for_cancelled()


def wait_for_cancelled_sync(timeout: timedelta | float | None = None) -> None:
    """In a sync activity: block until it is asked to cancel, or ``timeout`` passes."""
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    current_activity_runtime().wait_for_cancelled_sync(seconds)


def raise_complete_async() -> NoReturn:
    """End this attempt without a result, leaving the activity open: it is completed
    later from outside, through ``client.get_async_activity_handle(task_token=
    activity.info().task_token)`` (or by its workflow, run and activity ids). Its
    timeouts still apply while it waits."""
    current_activity_runtime().raise_complete_async()


def payload_converter() -> PayloadConverter:
    """The converter of the executor running the activity: ``from_payload(raw.payload,
    MyType)`` converts a RawValue a dynamic activity was given."""
    runtime = current_activity_runtime()
    # A runtime that converts nothing (a test environment's) lacks the method.
    convert: Callable[[], PayloadConverter] | None = getattr(runtime, "payload_converter", None)
    if convert is None:
        raise RuntimeError("this activity runs where payloads are not converted")
    return convert()


def client() -> Any:
    """The client of the worker that runs this activity (to start or signal workflows)."""
    return current_activity_runtime().client()


async def record_artifact(
    name: str,
    uri: str,
    *,
    media_type: str = "application/octet-stream",
    size: int | None = None,
    digest: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Artifact:
    """Record that this activity produced ``name`` at ``uri`` (metadata only: the bytes stay
    where ``uri`` points). Appears on the run's timeline and in ``handle.artifacts()``."""
    if not name or not uri:
        raise ValueError("record_artifact needs a name and a uri, e.g. ('report', 's3://b/k')")
    if size is not None and size < 0:
        raise ValueError(f"artifact size must be >= 0 bytes, got {size}")
    return await current_activity_runtime().record_artifact(
        ArtifactSpec(name, uri, media_type, size, digest, dict(attributes or {}))
    )


class _ActivityLogger(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        if in_activity():
            i = current_activity_runtime().info()
            extra = dict(kwargs.get("extra") or {})
            extra.setdefault("workflow_id", i.workflow_id)
            extra.setdefault("run_id", i.workflow_run_id)
            extra.setdefault("correlation_id", i.correlation_id)
            extra.setdefault("attempt", i.attempt)
            # temporalio's record fields, for handlers and formatters written for them.
            extra.setdefault(
                "temporal_activity",
                {
                    "activity_id": i.activity_id,
                    "activity_type": i.activity_type,
                    "attempt": i.attempt,
                    "namespace": i.workflow_namespace,
                    "task_queue": i.task_queue,
                    "workflow_id": i.workflow_id,
                    "workflow_run_id": i.workflow_run_id,
                    "workflow_type": i.workflow_type,
                },
            )
            kwargs["extra"] = extra
            msg = f"{msg} ({i.activity_type} {i.activity_id} of {i.workflow_id})"
        return msg, kwargs


logger = _ActivityLogger(logging.getLogger("turnout.activity"), {})
"""Logger for activity code, with workflow id, run id, correlation id and attempt."""
