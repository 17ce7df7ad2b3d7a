"""OpenTelemetry spans of workflow tasks and activities (needs opentelemetry-api).

The trace of a run is its correlation id: a 32-hex-digit correlation id (the
default one, or the trace id of the span that was current when the run was
started, see :func:`correlation_from_current_span`) is the trace id; any other
is hashed to one. Every workflow task is a span ``RunWorkflow:<type>`` whose
parent is the run (a span id derived from the run id); every activity attempt
is a span ``RunActivity:<type>`` whose parent is the workflow task that
scheduled it (its context travels with the activity, ``traceparent``). Spans
carry the attributes named in :data:`ATTRIBUTES`, the same on the Temporal
executor.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = [
    "ATTRIBUTES",
    "SpanTool",
    "correlation_from_current_span",
    "run_traceparent",
]

ATTRIBUTES = (
    "turnout.correlation_id",
    "turnout.workflow_id",
    "turnout.run_id",
    "turnout.attempt",
    "turnout.task_queue",
    "turnout.workflow_type",
    "turnout.activity_type",
)
"""Attribute names of turnout's spans."""


def correlation_from_current_span() -> str | None:
    """The trace id (32 hex digits) of the span current in this context, if any: a run
    started under it gets it as its correlation id, and its spans join that trace."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return trace.format_trace_id(span_context.trace_id)


def _digest(value: str, size: int) -> int:
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:size], "big") or 1


def trace_id_of(correlation_id: str) -> int:
    """The trace id of a run's spans: its correlation id when that is 32 hex digits."""
    if len(correlation_id) == 32:
        try:
            value = int(correlation_id, 16)
        except ValueError:
            value = 0
        if value:
            return value
    return _digest(correlation_id, 16)


def run_traceparent(correlation_id: str, run_id: str) -> str:
    """The W3C ``traceparent`` of a run: its trace (the correlation id) and its span id
    (derived from the run id), the parent of the spans of its workflow tasks."""
    return f"00-{trace_id_of(correlation_id):032x}-{_digest(run_id, 8):016x}-01"


class SpanTool:
    """Starts turnout's spans with ``tracer_provider`` (the global one by default)."""

    def __init__(self, tracer_provider: Any = None) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._trace = trace
        self._tracer = trace.get_tracer("turnout", tracer_provider=tracer_provider)
        self._propagator = TraceContextTextMapPropagator()

    @property
    def tracer(self) -> Any:
        """The OpenTelemetry tracer of turnout's spans."""
        return self._tracer

    def _run_context(self, correlation_id: str, run_id: str) -> Any:
        trace = self._trace
        parent = trace.SpanContext(
            trace_id=trace_id_of(correlation_id),
            span_id=_digest(run_id, 8),
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
        return trace.set_span_in_context(trace.NonRecordingSpan(parent))

    def start(
        self,
        name: str,
        attributes: dict[str, Any],
        *,
        start_ns: int | None = None,
        carrier: dict[str, str] | None = None,
    ) -> Any:
        """Start a span under the run (or under the span in ``carrier``); not made current."""
        parent = None
        if carrier:
            parent = self._propagator.extract(carrier)
            if not self._trace.get_current_span(parent).get_span_context().is_valid:
                parent = None
        if parent is None:
            parent = self._run_context(
                str(attributes.get("turnout.correlation_id", "")),
                str(attributes.get("turnout.run_id", "")),
            )
        return self._tracer.start_span(
            name,
            context=parent,
            attributes={k: v for k, v in attributes.items() if v is not None and v != ""},
            start_time=start_ns,
        )

    def activate(self, span: Any) -> Any:
        """Make ``span`` current in this context; returns the token for :meth:`deactivate`."""
        from opentelemetry import context

        return context.attach(self._trace.set_span_in_context(span))

    def deactivate(self, token: Any) -> None:
        from opentelemetry import context

        context.detach(token)

    def carrier(self, span: Any) -> dict[str, str]:
        """``span``'s context as ``traceparent`` headers, to travel with an activity."""
        headers: dict[str, str] = {}
        self._propagator.inject(headers, context=self._trace.set_span_in_context(span))
        return headers

    def failed(self, span: Any, description: str) -> None:
        """Mark ``span`` failed."""
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, description))

    def end(self, span: Any, error: BaseException | None = None) -> None:
        """End ``span``, marking it failed with ``error``."""
        if error is not None:
            span.record_exception(error)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, repr(error)))
        span.end()
