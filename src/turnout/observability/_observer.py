"""The observer of internal workers: log context, Prometheus metrics, OpenTelemetry spans."""

from __future__ import annotations

import contextvars
import dataclasses
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from turnout.contracts.errors import ConfigurationError, NonDeterminismError
from turnout.contracts.hooks import ClaimedWork, closes_run
from turnout.observability._hooks import Observer, headers_of

if TYPE_CHECKING:
    from turnout.contracts.errors import Failure
    from turnout.observability.metrics import Metrics
    from turnout.workflows._runtime import ActivityInfo, WorkflowInfo

__all__ = ["TRACING_ENV", "WorkerObserver"]

TRACING_ENV = "TURNOUT_TRACING"
"""Set to 1 to trace workers whose observer does not say (``tracing=None``)."""


@dataclasses.dataclass
class _Task:
    """What the observer keeps about the workflow task or activity in progress."""

    item: ClaimedWork
    began: float
    began_ns: int
    name: str = ""
    span: Any = None
    token: Any = None
    requested_at: datetime | None = None
    closes: bool = False
    failed: bool = False


_current: contextvars.ContextVar[_Task | None] = contextvars.ContextVar(
    "turnout_observed_task", default=None
)


def _attributes(item: ClaimedWork, **more: Any) -> dict[str, Any]:
    return {
        "turnout.correlation_id": str(headers_of(item).get("correlation_id") or ""),
        "turnout.workflow_id": item.workflow_id,
        "turnout.run_id": item.run_id,
        "turnout.attempt": item.attempt,
        "turnout.task_queue": item.task_queue,
        **more,
    }


class WorkerObserver(Observer):
    """Feeds ``metrics`` (a :class:`turnout.observability.Metrics`) and, with ``tracing``,
    OpenTelemetry spans (``tracer_provider``, or the global one), from an internal worker:
    ``Worker(client, ..., observer=WorkerObserver(metrics=Metrics()))``.

    ``tracing=None`` traces when ``TURNOUT_TRACING=1``. One observer may watch several
    workers of a process.
    """

    def __init__(
        self,
        *,
        metrics: Metrics | None = None,
        tracing: bool | None = None,
        tracer_provider: Any = None,
    ) -> None:
        self.metrics = metrics
        if tracing is None:
            tracing = tracer_provider is not None or os.environ.get(TRACING_ENV, "") in {
                "1",
                "true",
                "yes",
            }
        self.spans: Any = None
        if tracing:
            from turnout.observability.tracing import SpanTool

            try:
                self.spans = SpanTool(tracer_provider)
            except ImportError as exc:
                raise ConfigurationError(
                    "tracing needs OpenTelemetry, which is not installed: "
                    f"pip install 'turnout[observability]' (or unset {TRACING_ENV})"
                ) from exc

    # -- workers
    def attach(self, worker: Any) -> None:
        if self.metrics is not None:
            self.metrics.attach(worker)

    def detach(self, worker: Any) -> None:
        if self.metrics is not None:
            self.metrics.detach(worker)

    def claimed(self, item: ClaimedWork) -> None:
        if self.metrics is not None:
            self.metrics.claims.labels(item.task_queue, item.kind).inc()

    # -- workflow tasks
    def workflow_task_began(self, item: ClaimedWork) -> None:
        super().workflow_task_began(item)
        _current.set(_Task(item, time.monotonic(), time.time_ns(), name=item.name or ""))

    def workflow_task_loaded(self, info: WorkflowInfo) -> None:
        super().workflow_task_loaded(info)
        task = _current.get()
        if task is None:
            return
        task.name = info.workflow_type
        task.requested_at = info.start_time
        if self.spans is not None and task.span is None:
            task.span = self.spans.start(
                f"RunWorkflow:{info.workflow_type}",
                {
                    **_attributes(task.item, **{"turnout.workflow_type": info.workflow_type}),
                    "turnout.correlation_id": info.correlation_id,
                    "turnout.attempt": info.attempt,
                },
                start_ns=task.began_ns,
            )

    def workflow_task_failed(self, error: BaseException) -> None:
        task = _current.get()
        if task is None:
            return
        task.failed = True
        if self.metrics is not None:
            labels = (task.item.task_queue, task.name)
            self.metrics.workflow_task_failures.labels(*labels).inc()
            if isinstance(error, NonDeterminismError):
                self.metrics.nondeterminism.labels(*labels).inc()
        if task.span is not None and self.spans is not None:
            task.span.record_exception(error)
            self.spans.failed(task.span, f"{type(error).__name__}: {error}")

    def scheduling(self, commands: Sequence[Any]) -> list[Any]:
        task = _current.get()
        if task is not None:
            task.closes = closes_run(commands)
        carrier: dict[str, str] = {}
        if task is not None and task.span is not None and self.spans is not None:
            carrier = self.spans.carrier(task.span)
        return self._with_headers(commands, carrier)

    def workflow_task_committed(self, commands: Sequence[Any]) -> None:
        task = _current.get()
        if task is None or not task.closes or self.metrics is None:
            return
        if task.requested_at is not None:
            took = (datetime.now(UTC) - task.requested_at).total_seconds()
            self.metrics.workflow_seconds.labels(task.item.task_queue, task.name).observe(took)

    def workflow_task_ended(self, error: BaseException | None) -> None:
        super().workflow_task_ended(error)
        task = _current.get()
        _current.set(None)
        if task is None:
            return
        if self.metrics is not None:
            self.metrics.workflow_task_seconds.labels(task.item.task_queue, task.name).observe(
                time.monotonic() - task.began
            )
        if task.span is not None and self.spans is not None:
            self.spans.end(task.span, error)

    # -- activities
    def activity_began(self, item: ClaimedWork) -> None:
        super().activity_began(item)
        task = _Task(item, time.monotonic(), time.time_ns(), name=item.name or "")
        _current.set(task)
        if self.spans is not None:
            carrier = headers_of(item)
            task.span = self.spans.start(
                f"RunActivity:{task.name}",
                _attributes(
                    item,
                    **{
                        "turnout.activity_type": task.name,
                        "turnout.workflow_type": item.payload.get("workflow_type"),
                    },
                ),
                start_ns=task.began_ns,
                carrier=carrier,
            )
            task.token = self.spans.activate(task.span)

    def activity_running(self, info: ActivityInfo) -> None:
        task = _current.get()
        if task is not None:
            task.began = time.monotonic()

    def activity_failed(self, failure: Failure) -> None:
        task = _current.get()
        if task is None:
            return
        task.failed = True
        if task.span is not None and self.spans is not None:
            self.spans.failed(task.span, f"{failure.type or failure.kind}: {failure.message}")

    def activity_ended(self, error: BaseException | None) -> None:
        super().activity_ended(error)
        task = _current.get()
        _current.set(None)
        if task is None:
            return
        if self.metrics is not None:
            outcome = "failed" if error is not None or task.failed else "completed"
            self.metrics.activity_seconds.labels(task.item.task_queue, task.name, outcome).observe(
                time.monotonic() - task.began
            )
        if task.span is not None and self.spans is not None:
            if task.token is not None:
                self.spans.deactivate(task.token)
            self.spans.end(task.span, error)

    # -- outcomes
    def retried(self, item: ClaimedWork) -> None:
        if self.metrics is not None:
            self.metrics.retries.labels(item.task_queue, item.name or "").inc()

    def dead_lettered(self, item: ClaimedWork) -> None:
        if self.metrics is not None:
            self.metrics.dead_lettered.labels(item.task_queue, item.name or "").inc()

    def lease_expired(self, item: ClaimedWork) -> None:
        if self.metrics is not None:
            self.metrics.lease_expirations.labels(item.task_queue, item.kind).inc()

    def quarantined(self, kind: str, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.quarantined.labels(kind).inc()
