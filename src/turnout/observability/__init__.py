"""Observability of workers: Prometheus metrics, health endpoints, OpenTelemetry traces,
structured logs.

Metrics and traces need the ``observability`` extra (``pip install
'turnout[observability]'``); the names that need it are imported on first use, so
``import turnout.observability`` works without it::

    from turnout.observability import Metrics, WorkerObserver, serve_health, serve_metrics

    metrics = Metrics()
    async with turnout.Worker(client, task_queue="q", workflows=[...],
                              observer=WorkerObserver(metrics=metrics, tracing=True)) as w:
        await serve_metrics(metrics, 9464)
        await serve_health([w], 8080)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from turnout.observability._hooks import Observer, TaskContextFilter, current_log_context
from turnout.observability._observer import TRACING_ENV, WorkerObserver
from turnout.observability.health import Readiness, Server, readiness, serve_health, serve_metrics
from turnout.observability.logs import JsonFormatter, configure_logging

if TYPE_CHECKING:
    from turnout.observability.metrics import Metrics

__all__ = [
    "TRACING_ENV",
    "JsonFormatter",
    "Metrics",
    "Observer",
    "Readiness",
    "Server",
    "TaskContextFilter",
    "WorkerObserver",
    "configure_logging",
    "current_log_context",
    "readiness",
    "require_metrics",
    "serve_health",
    "serve_metrics",
]


def require_metrics() -> type[Metrics]:
    """The :class:`Metrics` class; a clear error when prometheus-client is not installed."""
    from turnout.contracts.errors import ConfigurationError

    try:
        from turnout.observability.metrics import Metrics
    except ImportError as exc:
        raise ConfigurationError(
            "metrics need prometheus-client, which is not installed: "
            "pip install 'turnout[observability]'"
        ) from exc
    return Metrics


def __getattr__(name: str) -> Any:
    if name == "Metrics":
        return require_metrics()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
