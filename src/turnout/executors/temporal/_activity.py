"""``turnout.activity.*`` inside a Temporal activity: temporalio's activity functions,
answered in turnout's terms, in the worker's process or in a child of its process pool."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import inspect
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import temporalio.activity
import temporalio.converter
import temporalio.worker

from turnout.contracts.governance import artifact_attributes
from turnout.contracts.records import Artifact
from turnout.executors.temporal._governance import ARTIFACT_SIGNAL, record_on_run
from turnout.workflows._runtime import (
    ActivityInfo,
    ArtifactSpec,
    reset_activity_runtime,
    set_activity_runtime,
)

if TYPE_CHECKING:
    from turnout.executors.temporal._client import TemporalClient

__all__ = ["InChildProcess", "TemporalActivityRuntime", "crossing_processes"]


class TemporalActivityRuntime:
    """``turnout.activity.*`` inside a Temporal activity."""

    def __init__(self, client: TemporalClient | None = None) -> None:
        self._client = client

    def info(self) -> ActivityInfo:
        i = temporalio.activity.info()
        return ActivityInfo(
            activity_id=i.activity_id,
            activity_type=i.activity_type,
            attempt=i.attempt,
            workflow_id=i.workflow_id or "",
            workflow_run_id=i.workflow_run_id or "",
            workflow_type=i.workflow_type or "",
            task_queue=i.task_queue,
            scheduled_time=i.scheduled_time,
            started_time=i.started_time,
            heartbeat_details=list(i.heartbeat_details),
            start_to_close_timeout=i.start_to_close_timeout,
            schedule_to_close_timeout=i.schedule_to_close_timeout,
            heartbeat_timeout=i.heartbeat_timeout,
            workflow_namespace=i.workflow_namespace or "default",
            task_token=i.task_token,
            is_local=i.is_local,
        )

    def payload_converter(self) -> temporalio.converter.PayloadConverter:
        return temporalio.activity.payload_converter()  # temporalio's, as activity code expects

    def heartbeat(self, *details: Any) -> None:
        temporalio.activity.heartbeat(*details)

    def is_cancelled(self) -> bool:
        return bool(temporalio.activity.is_cancelled())

    async def wait_for_cancelled(self) -> None:
        await temporalio.activity.wait_for_cancelled()

    def wait_for_cancelled_sync(self, timeout: float | None) -> bool:
        temporalio.activity.wait_for_cancelled_sync(timeout)
        return bool(temporalio.activity.is_cancelled())

    def raise_complete_async(self) -> NoReturn:
        temporalio.activity.raise_complete_async()

    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError(
                "this activity runs without a client; connect with turnout.connect()"
            )
        return self._client

    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        from turnout.workflows.activity import logger

        return logger

    async def record_artifact(self, artifact: ArtifactSpec) -> Artifact:
        i = temporalio.activity.info()
        if self._client is None:
            raise RuntimeError(
                "record_artifact needs the worker's client; run activities with turnout.Worker"
            )
        recorded = Artifact(
            artifact_id=uuid.uuid4().hex,
            run_id=i.workflow_run_id or "",
            workflow_id=i.workflow_id or "",
            tenant_id=self._client.tenant_id,
            name=artifact.name,
            uri=artifact.uri,
            media_type=artifact.media_type,
            size_bytes=artifact.size,
            digest=artifact.digest,
            created_at=datetime.now(UTC),
            attributes={**artifact.attributes, "activity_type": i.activity_type},
        )
        run = self._client.raw.get_workflow_handle(recorded.workflow_id, run_id=recorded.run_id)
        await record_on_run(run, ARTIFACT_SIGNAL, artifact_attributes(recorded))
        return recorded


class InChildProcess:
    """A sync activity as it crosses to a child of the worker's process pool (picklable
    when the activity is): in the child, temporalio has set its activity context, and
    this makes turnout's runtime, which reads it, current around the call."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, *args: Any) -> Any:
        token = set_activity_runtime(TemporalActivityRuntime())
        try:
            return self.fn(*args)
        finally:
            reset_activity_runtime(token)


def crossing_processes(
    input: temporalio.worker.ExecuteActivityInput,
) -> temporalio.worker.ExecuteActivityInput:
    """``input`` with a sync activity wrapped in :class:`InChildProcess` when it runs in
    a pool of other processes (turnout's runtime, a context variable, stays behind)."""
    if isinstance(input.executor, concurrent.futures.ThreadPoolExecutor) or _is_async(input.fn):
        return input
    return dataclasses.replace(input, fn=InChildProcess(input.fn))


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(fn.__call__)
