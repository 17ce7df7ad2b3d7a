"""The alert rules name only metrics turnout exposes; the metric and log formats; turnout runs
without the observability extra and says what to install when it is needed."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from turnout.observability import TaskContextFilter, configure_logging
from turnout.observability._hooks import bind_log_context, unbind_log_context
from turnout.observability.metrics import FIGURE_HELP, Metrics
from turnout.observability.tracing import run_traceparent, trace_id_of

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "alerts" / "turnout-rules.yml"
OPERATIONS = ROOT / "docs" / "operations.md"


def _rules() -> list[dict[str, object]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_alert_rules_parse_and_name_only_metrics_turnout_exposes() -> None:
    known = Metrics().names()
    rules = _rules()
    assert {r["alert"] for r in rules} >= {
        "TurnoutQueueLagOverSLO",
        "TurnoutDeadLettersGrowing",
        "TurnoutClaimTimeouts",
        "TurnoutNonDeterminism",
    }
    for rule in rules:
        expr = str(rule["expr"])
        named = set(re.findall(r"\bturnout_[a-z_]+\b", expr))
        assert named, f"{rule['alert']}: no turnout metric in {expr!r}"
        assert named <= known, f"{rule['alert']} names unknown metrics {sorted(named - known)}"
        assert rule["labels"]["severity"] in {"page", "ticket"}  # type: ignore[index]
        assert rule["annotations"]["summary"]  # type: ignore[index]


def test_operations_page_explains_every_alert_and_lists_every_metric() -> None:
    page = OPERATIONS.read_text()
    for rule in _rules():
        assert str(rule["alert"]) in page
    metrics = Metrics()
    for family in metrics.registry.collect():
        shown = family.name + ("_total" if family.type == "counter" else "")
        assert f"`{shown}`" in page, shown
    for name in FIGURE_HELP:
        assert f"`{name}`" in page, name


def test_metric_names_are_turnout_prefixed_and_include_the_database_figures() -> None:
    names = Metrics().names()
    assert all(n.startswith("turnout_") for n in names)
    assert set(FIGURE_HELP) <= names
    assert {"turnout_claims_total", "turnout_worker_slots_in_use"} <= names


def test_json_log_lines_carry_the_task_context() -> None:
    stream = io.StringIO()
    handler = configure_logging("json", stream=stream)
    try:
        token = bind_log_context(
            workflow_id="w", run_id="r", correlation_id="c", attempt=2, task_queue="q"
        )
        try:
            logging.getLogger("turnout.worker").warning("hello %s", "there")
        finally:
            unbind_log_context(token)
        logging.getLogger("turnout.worker").warning("outside")
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "hello there"
    assert (first["workflow_id"], first["run_id"], first["correlation_id"]) == ("w", "r", "c")
    assert (first["attempt"], first["task_queue"], first["level"]) == (2, "q", "warning")
    assert "run_id" not in second


def test_text_filter_fills_missing_fields() -> None:
    record = logging.makeLogRecord({"msg": "x"})
    assert TaskContextFilter().filter(record)
    assert record.__dict__["run_id"] == ""


def test_trace_of_a_run_is_its_correlation_id() -> None:
    correlation = "0af7651916cd43dd8448eb211c80319c"
    assert trace_id_of(correlation) == int(correlation, 16)
    assert trace_id_of("order-17") == trace_id_of("order-17")  # any other id is hashed
    parent = run_traceparent(correlation, "run-1")
    assert re.fullmatch(rf"00-{correlation}-[0-9a-f]{{16}}-01", parent)


WITHOUT_EXTRA = """
import sys
for name in ("prometheus_client", "opentelemetry"):
    sys.modules[name] = None  # as if the observability extra were not installed
import turnout, turnout.observability
from turnout.cli import main
main(["worker", "tests.observability_workflows", "-q", "q", *sys.argv[1:]])
"""


def _worker_without_extra(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )


def test_turnout_runs_without_the_extra_and_names_it_when_metrics_are_asked_for() -> None:
    done = _worker_without_extra("--metrics-port", "0")
    assert done.returncode == 2, done.stderr
    assert "pip install 'turnout[observability]'" in done.stderr
    assert "--metrics-port" in done.stderr


def test_tracing_without_opentelemetry_names_the_extra() -> None:
    done = _worker_without_extra(TURNOUT_TRACING="1")
    assert done.returncode == 2, done.stderr
    assert "TURNOUT_TRACING" in done.stderr
    assert "pip install 'turnout[observability]'" in done.stderr


class _Store:
    """A store whose figures hang (a database that does not answer) or answer at once."""

    def __init__(self, *, hangs: bool) -> None:
        self.hangs = hangs
        self.reads = 0

    async def figures(self, tenant: str) -> list[Any]:
        from turnout.executors.internal.store.figures import Figure

        self.reads += 1
        if self.hangs:
            await asyncio.Event().wait()
        return [Figure("turnout_queue_depth", 3.0, "items ready", {"task_queue": "q"})]


class _Worker:
    task_queue, identity, tenant_id = "q", "w1", "default"

    def __init__(self, store: _Store) -> None:
        self.store = store

    def slots(self) -> dict[str, tuple[int, int]]:
        return {"activity_task": (1, 4)}


@pytest.mark.timeout(30)
async def test_metrics_go_without_the_database_figures_while_it_hangs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics(figures_timeout=0.1, figures_max_age=0.0)
    metrics.attach(_Worker(_Store(hangs=True)))
    metrics.claims.labels("q", "activity_task").inc()
    async with asyncio.timeout(10):
        await metrics.refresh()
        await metrics.refresh()
    text = metrics.exposition().decode()
    assert 'turnout_claims_total{kind="activity_task",task_queue="q"} 1.0' in text
    assert "turnout_queue_depth{" not in text
    warnings = [r for r in caplog.records if "queue figures unavailable" in r.getMessage()]
    assert len(warnings) == 1, "logged once, not on every scrape"
    assert "no answer within 0.1s" in warnings[0].getMessage()


async def test_metrics_reuse_the_database_figures_for_a_few_seconds() -> None:
    store = _Store(hangs=False)
    metrics = Metrics(figures_max_age=60.0)
    metrics.attach(_Worker(store))
    async with asyncio.timeout(10):
        await asyncio.gather(*(metrics.refresh() for _ in range(5)))
        await metrics.refresh()
    assert store.reads == 1
    assert 'turnout_queue_depth{task_queue="q"} 3.0' in metrics.exposition().decode()


def test_a_failed_workflow_task_marks_its_span_failed() -> None:
    import contextvars
    from datetime import UTC, datetime

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    from turnout.contracts.errors import NonDeterminismError
    from turnout.executors.internal.store import ClaimedItem
    from turnout.observability import WorkerObserver
    from turnout.workflows._runtime import WorkflowInfo

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    observer = WorkerObserver(tracer_provider=provider)
    now = datetime.now(UTC)
    item = ClaimedItem(
        id=1, kind="workflow_task", run_id="r1", workflow_id="w1", tenant_id="default",
        task_queue="q", name="Changed", ref=None, payload={}, attempt=1, lease_owner="me",
        lease_expires_at=now, started_at=now, deadline_at=None, heartbeat_details=None,
        created_at=now,
    )  # fmt: skip
    info = WorkflowInfo(
        workflow_id="w1", run_id="r1", workflow_type="Changed", task_queue="q", attempt=1,
        start_time=now, correlation_id="c1",
    )  # fmt: skip

    def task() -> None:
        observer.workflow_task_began(item)
        observer.workflow_task_loaded(info)
        observer.workflow_task_failed(NonDeterminismError("the history says otherwise"))
        observer.workflow_task_ended(None)

    contextvars.copy_context().run(task)
    provider.shutdown()
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert "the history says otherwise" in (span.status.description or "")


def test_figures_fold_into_one_row_per_task_queue() -> None:
    from turnout.executors.internal.store.figures import Figure, QueueFigures, per_queue

    figures = [
        Figure("turnout_queue_depth", 2, "", {"task_queue": "b", "kind": "workflow_task"}),
        Figure("turnout_queue_depth", 3, "", {"task_queue": "b", "kind": "activity_task"}),
        Figure("turnout_queue_lag_seconds", 1.5, "", {"task_queue": "b"}),
        Figure("turnout_leased_items", 1, "", {"task_queue": "a", "kind": "activity_task"}),
        Figure("turnout_leased_items", 1, "", {"task_queue": "a", "kind": "workflow_task"}),
        Figure("turnout_dead_letters", 4, "", {"task_queue": "a"}),
        Figure("turnout_runs", 7, "", {"state": "completed"}),
    ]
    assert per_queue(figures) == [
        QueueFigures("a", leased=2, dead_letters=4),
        QueueFigures(
            "b", depth=5, depth_by_kind={"workflow_task": 2, "activity_task": 3}, lag_seconds=1.5
        ),
    ]
