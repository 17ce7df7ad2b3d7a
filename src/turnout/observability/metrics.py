"""Prometheus metrics of workers (needs the ``observability`` extra: prometheus-client).

:class:`Metrics` owns a registry with turnout's metrics: counters and histograms
the worker's hooks feed (claims, lease expirations, retries, dead letters,
non-determinism errors, latencies), slot gauges read from the attached workers
when scraped, and the queue and run gauges of ``turnout metrics``
(:mod:`turnout.executors.internal.store.figures`) read from the database
before a scrape (:meth:`Metrics.refresh`) when the last reading is older than
``figures_max_age`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

from turnout.observability.queue_figures import with_idle_queues

try:
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        Counter,
        Histogram,
        generate_latest,
    )
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "turnout's metrics need prometheus-client: pip install 'turnout[observability]'"
    ) from exc

__all__ = ["CONTENT_TYPE", "FIGURES_MAX_AGE", "FIGURES_TIMEOUT", "FIGURE_HELP", "Metrics"]

_log = logging.getLogger("turnout.metrics")

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The Content-Type of :meth:`Metrics.exposition`."""

FIGURE_HELP = {
    "turnout_queue_depth": "items ready to be claimed",
    "turnout_queue_lag_seconds": "age of the oldest ready item",
    "turnout_leased_items": "items claimed by a worker",
    "turnout_dead_letters": "dead queue items: activities whose retries ran out or that timed "
    "out for good, workflow tasks dead-lettered after deadlocks, quarantined items",
    "turnout_runs": "runs per state",
    "turnout_pending_approvals": "approvals waiting on a decision",
}
"""The gauges read from the database (the figures of ``turnout metrics``)."""

FIGURES_TIMEOUT = 2.0
"""Seconds a scrape waits for the database's figures before it goes without them."""

FIGURES_MAX_AGE = 5.0
"""Seconds the database's figures are reused, so that frequent scrapes (or many worker
processes) do not each read the tables."""

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class _FigureCollector(Collector):
    """The database figures of the last :meth:`Metrics.refresh`, as gauges."""

    def __init__(self) -> None:
        self.figures: list[Any] = []

    def describe(self) -> list[Any]:
        return [GaugeMetricFamily(name, text) for name, text in FIGURE_HELP.items()]

    def collect(self) -> Iterator[Any]:
        families: dict[str, GaugeMetricFamily] = {}
        label_names: dict[str, list[str]] = {}
        for f in self.figures:
            names = sorted(f.labels)
            family = families.get(f.name)
            if family is None:
                family = GaugeMetricFamily(f.name, f.help, labels=names)
                families[f.name] = family
                label_names[f.name] = names
            family.add_metric([str(f.labels.get(n, "")) for n in label_names[f.name]], f.value)
        yield from families.values()


class _SlotCollector(Collector):
    """Slots of the attached workers: capacity and in use, per task queue and kind."""

    def __init__(self) -> None:
        self.workers: list[Any] = []

    def describe(self) -> list[Any]:
        return [
            GaugeMetricFamily("turnout_worker_slots", "slots of a worker (its concurrency)"),
            GaugeMetricFamily("turnout_worker_slots_in_use", "slots of a worker running work"),
        ]

    def collect(self) -> Iterator[Any]:
        labels = ["task_queue", "kind", "worker"]
        total = GaugeMetricFamily(
            "turnout_worker_slots", "slots of a worker (its concurrency)", labels=labels
        )
        used = GaugeMetricFamily(
            "turnout_worker_slots_in_use", "slots of a worker running work", labels=labels
        )
        for worker in list(self.workers):
            # Temporal: the SDK knows the slots in use (its own metrics), turnout does not.
            in_use_known = getattr(worker, "reports_slots_in_use", True)
            for kind, (in_use, capacity) in worker.slots().items():
                names = [worker.task_queue, kind, worker.identity]
                total.add_metric(names, capacity)
                if in_use_known:
                    used.add_metric(names, in_use)
        yield total
        yield used


class Metrics:
    """turnout's Prometheus metrics, in ``registry`` (a new one by default).

    Give it to workers through :class:`turnout.observability.WorkerObserver`; serve
    it with :func:`turnout.observability.serve_metrics` or read :meth:`exposition`.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        figures_timeout: float = FIGURES_TIMEOUT,
        figures_max_age: float = FIGURES_MAX_AGE,
    ) -> None:
        self.figures_timeout = figures_timeout
        self.figures_max_age = figures_max_age
        self._read: dict[tuple[int, str], tuple[float, list[Any] | None]] = {}
        """Per store and tenant: when its figures were last read, and what was found
        (None: the database did not answer)."""
        self._refreshing = asyncio.Lock()
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.claims = Counter(
            "turnout_claims",
            "queue items claimed by this process's workers (poll and eager claims)",
            ["task_queue", "kind"],
            registry=r,
        )
        self.lease_expirations = Counter(
            "turnout_lease_expirations",
            "leases found expired by the reaper: claim timeouts (a worker died or stalled)",
            ["task_queue", "kind"],
            registry=r,
        )
        self.retries = Counter(
            "turnout_activity_retries",
            "failed activity attempts put back for another attempt",
            ["task_queue", "activity_type"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "turnout_activities_dead_lettered",
            "activities whose retries ran out or that timed out for good",
            ["task_queue", "activity_type"],
            registry=r,
        )
        self.quarantined = Counter(
            "turnout_quarantined",
            "queue items and runs that maintenance could not handle, set aside (dead) so "
            "that the pass goes on; see the dead_lettered event's reason",
            ["kind"],
            registry=r,
        )
        self.nondeterminism = Counter(
            "turnout_nondeterminism_errors",
            "workflow tasks whose code contradicted the recorded history",
            ["task_queue", "workflow_type"],
            registry=r,
        )
        self.workflow_task_failures = Counter(
            "turnout_workflow_task_failures",
            "workflow tasks that failed (a bug or non-determinism) and will be retried",
            ["task_queue", "workflow_type"],
            registry=r,
        )
        self.workflow_task_seconds = Histogram(
            "turnout_workflow_task_seconds",
            "time to run and commit one workflow task",
            ["task_queue", "workflow_type"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.workflow_seconds = Histogram(
            "turnout_workflow_seconds",
            "time from a run's start request to its close",
            ["task_queue", "workflow_type"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.activity_seconds = Histogram(
            "turnout_activity_seconds",
            "time one activity attempt ran, by outcome (completed, failed)",
            ["task_queue", "activity_type", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._figures = _FigureCollector()
        self._slots = _SlotCollector()
        r.register(self._figures)
        r.register(self._slots)

    def attach(self, worker: Any) -> None:
        """Report ``worker``'s slots; read its store's figures on :meth:`refresh`."""
        if worker not in self._slots.workers:
            self._slots.workers.append(worker)

    def detach(self, worker: Any) -> None:
        """Stop reporting ``worker``."""
        if worker in self._slots.workers:
            self._slots.workers.remove(worker)

    async def refresh(self) -> None:
        """Read the queue and run figures of the attached workers' stores and tenants
        (those read less than ``figures_max_age`` seconds ago are reused).

        A database that does not answer within ``figures_timeout`` seconds leaves those
        gauges out of the scrape (the worker's counters are still served); it is logged
        once until the database answers again, and ``/readyz`` says so.
        """
        async with self._refreshing:  # scrapes at the same time share one reading
            polled: dict[tuple[int, str], tuple[Any, str, set[str]]] = {}
            for worker in list(self._slots.workers):
                store, tenant = getattr(worker, "store", None), getattr(worker, "tenant_id", "")
                if store is None:  # Temporal: the server has the queue figures
                    continue
                _, _, queues = polled.setdefault((id(store), tenant), (store, tenant, set()))
                queues.add(worker.task_queue)
            figures: list[Any] = []
            for key, (store, tenant, queues) in polled.items():
                found = await self._read_figures(key, store, tenant)
                if found is not None:  # an idle queue polled here: its series at 0
                    figures.extend(with_idle_queues(found, queues))
            self._figures.figures = figures

    async def _read_figures(
        self, key: tuple[int, str], store: Any, tenant: str
    ) -> list[Any] | None:
        now = time.monotonic()
        last = self._read.get(key)
        if last is not None and now - last[0] < self.figures_max_age:
            return last[1]
        found: list[Any] | None = None
        try:
            async with asyncio.timeout(self.figures_timeout):
                found = list(await store.figures(tenant))
        except TimeoutError:
            problem = f"no answer within {self.figures_timeout:g}s"
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if found is None and (last is None or last[1] is not None):
            _log.warning(
                "queue figures unavailable (%s); /metrics serves the worker's counters "
                "without them until the database answers",
                problem,
            )
        self._read[key] = (time.monotonic(), found)
        return found

    def names(self) -> set[str]:
        """Every metric name this registry exposes (counters with their ``_total``)."""
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
        found: set[str] = set()
        for metric in self.registry.collect():
            found.add(metric.name)
            found.update(metric.name + suffix for suffix in suffixes.get(metric.type, ()))
        found.update(FIGURE_HELP)
        found.update({"turnout_worker_slots", "turnout_worker_slots_in_use"})
        return found

    def exposition(self) -> bytes:
        """The registry in Prometheus text format (call :meth:`refresh` first for fresh
        queue figures)."""
        return bytes(generate_latest(self.registry))
