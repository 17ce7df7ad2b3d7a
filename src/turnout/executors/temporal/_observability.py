"""Metrics, traces and log context of a Temporal worker, through temporalio interceptors.

Traces: temporalio's own ``TracingInterceptor`` (spans ``RunWorkflow:<type>``,
``StartActivity:<type>``, ``RunActivity:<type>``, propagated in headers), its workflow
spans given turnout's attribute names (``turnout.correlation_id``, ...). The run's
correlation id travels to its activities in a header. Metrics: the activity figures
(claims of activity tasks, retries, dead letters, activity latency); what happens inside
the Temporal server (workflow-task claims, lease expirations, queue depth) is the
server's and the SDK's to report.
"""

from __future__ import annotations

import time
from typing import Any

import temporalio.activity
import temporalio.converter
import temporalio.exceptions
import temporalio.worker
import temporalio.workflow

from turnout.executors.temporal._runtime import CORRELATION_MEMO
from turnout.observability._hooks import bind_log_context, unbind_log_context
from turnout.observability.tracing import run_traceparent

__all__ = ["CORRELATION_HEADER", "interceptors_for"]

CORRELATION_HEADER = "turnout-correlation-id"
"""The header that carries the run's correlation id to its activities."""

_converter = temporalio.converter.PayloadConverter.default


def _workflow_attributes() -> dict[str, Any]:
    info = temporalio.workflow.info()
    return {
        "turnout.correlation_id": str(temporalio.workflow.memo_value(CORRELATION_MEMO, "")),
        "turnout.workflow_id": info.workflow_id,
        "turnout.run_id": info.run_id,
        "turnout.attempt": info.attempt,
        "turnout.task_queue": info.task_queue,
        "turnout.workflow_type": info.workflow_type,
    }


class _CorrelationOutbound(temporalio.worker.WorkflowOutboundInterceptor):
    """Sends the run's correlation id with each activity it schedules."""

    def start_activity(self, input: temporalio.worker.StartActivityInput) -> Any:
        correlation = str(temporalio.workflow.memo_value(CORRELATION_MEMO, ""))
        input.headers = {
            **input.headers,
            CORRELATION_HEADER: _converter.to_payloads([correlation])[0],
        }
        return super().start_activity(input)


class _CorrelationInbound(temporalio.worker.WorkflowInboundInterceptor):
    def init(self, outbound: temporalio.worker.WorkflowOutboundInterceptor) -> None:
        super().init(_CorrelationOutbound(outbound))


class _ObservedActivity(temporalio.worker.ActivityInboundInterceptor):
    """Log context, span attributes and metrics of one activity attempt."""

    def __init__(self, next: temporalio.worker.ActivityInboundInterceptor, metrics: Any) -> None:
        super().__init__(next)
        self._metrics = metrics

    async def execute_activity(self, input: temporalio.worker.ExecuteActivityInput) -> Any:
        info = temporalio.activity.info()
        header = input.headers.get(CORRELATION_HEADER)
        correlation = str(_converter.from_payloads([header])[0]) if header else ""
        token = bind_log_context(
            workflow_id=info.workflow_id or "",
            run_id=info.workflow_run_id or "",
            correlation_id=correlation,
            attempt=info.attempt,
            task_queue=info.task_queue,
        )
        _annotate_span(info, correlation)
        m = self._metrics
        labels = (info.task_queue, info.activity_type)
        if m is not None:
            m.claims.labels(info.task_queue, "activity_task").inc()
        began = time.monotonic()
        try:
            result = await super().execute_activity(input)
        except BaseException as exc:
            if m is not None:
                m.activity_seconds.labels(*labels, "failed").observe(time.monotonic() - began)
                # A cancelled attempt (the run's request, a worker shutting down) is
                # neither a retry nor a dead letter.
                if not temporalio.exceptions.is_cancelled_exception(exc):
                    counter = m.dead_lettered if _final(info, exc) else m.retries
                    counter.labels(*labels).inc()
            raise
        finally:
            unbind_log_context(token)
        if m is not None:
            m.activity_seconds.labels(*labels, "completed").observe(time.monotonic() - began)
        return result


def _final(info: temporalio.activity.Info, exc: BaseException) -> bool:
    """Is this failed attempt the activity's last (no retry follows)?"""
    if isinstance(exc, temporalio.exceptions.ApplicationError) and exc.non_retryable:
        return True
    policy = info.retry_policy
    if policy is None:
        return False
    if isinstance(exc, temporalio.exceptions.ApplicationError) and exc.type in (
        policy.non_retryable_error_types or ()
    ):
        return True
    return bool(policy.maximum_attempts) and info.attempt >= policy.maximum_attempts


def _annotate_span(info: temporalio.activity.Info, correlation: str) -> None:
    try:
        from opentelemetry import trace
    except ImportError:
        return
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(
            {
                "turnout.correlation_id": correlation,
                "turnout.workflow_id": info.workflow_id or "",
                "turnout.run_id": info.workflow_run_id or "",
                "turnout.attempt": info.attempt,
                "turnout.task_queue": info.task_queue,
                "turnout.activity_type": info.activity_type,
                "turnout.workflow_type": info.workflow_type or "",
            }
        )


class _Observed(temporalio.worker.Interceptor):
    def __init__(self, metrics: Any) -> None:
        self._metrics = metrics

    def intercept_activity(
        self, next: temporalio.worker.ActivityInboundInterceptor
    ) -> temporalio.worker.ActivityInboundInterceptor:
        return _ObservedActivity(next, self._metrics)

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[temporalio.worker.WorkflowInboundInterceptor]:
        return _CorrelationInbound


def _tracing(tracer: Any) -> temporalio.worker.Interceptor:
    from temporalio.contrib.opentelemetry import (
        TracingInterceptor,
        TracingWorkflowInboundInterceptor,
    )

    class WorkflowTracing(TracingWorkflowInboundInterceptor):
        """temporalio's workflow spans, with turnout's attribute names as well."""

        def _load_workflow_context_carrier(self) -> dict[str, Any] | None:
            # Started without a span: the run's own trace (its correlation id), as on the
            # internal executor, so that its workflow and activity spans form one tree.
            carrier: dict[str, Any] | None = super()._load_workflow_context_carrier()
            if not carrier:
                info = temporalio.workflow.info()
                correlation = str(temporalio.workflow.memo_value(CORRELATION_MEMO, ""))
                carrier = {"traceparent": run_traceparent(correlation, info.run_id)}
                self._workflow_context_carrier = carrier
            return carrier

        def _completed_span(self, span_name: str, **kwargs: Any) -> None:
            attributes = {**_workflow_attributes(), **(kwargs.pop("additional_attributes", None)
                                                       or {})}  # fmt: skip
            super()._completed_span(span_name, additional_attributes=attributes, **kwargs)

    class Tracing(TracingInterceptor):
        def workflow_interceptor_class(
            self, input: temporalio.worker.WorkflowInterceptorClassInput
        ) -> type[TracingWorkflowInboundInterceptor]:
            super().workflow_interceptor_class(input)
            return WorkflowTracing

    return Tracing(tracer, always_create_workflow_spans=True)


def interceptors_for(observer: Any) -> list[temporalio.worker.Interceptor]:
    """The interceptors that report a Temporal worker to ``observer`` (outermost first)."""
    if observer is None:
        return []
    found: list[temporalio.worker.Interceptor] = []
    spans = getattr(observer, "spans", None)
    if spans is not None:
        found.append(_tracing(spans.tracer))
    found.append(_Observed(getattr(observer, "metrics", None)))
    return found
