"""Observability of a real worker: ``/metrics`` after a known workload, ``/healthz`` and
``/readyz``, the workflow -> activity span tree, and the log context of every line."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import urllib.error
import urllib.request
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

import turnout
from tests.observability_workflows import (
    ACTIVITIES,
    WORKFLOWS,
    DoomedWorkflow,
    FlakyWorkflow,
    ObservedWorkflow,
)
from turnout.executors.internal.store import ClaimParams
from turnout.observability import (
    Metrics,
    Observer,
    TaskContextFilter,
    WorkerObserver,
    serve_health,
    serve_metrics,
)

Q = "observed"
RUNS = 5
WAIT = 60.0


async def _get(port: int, path: str) -> tuple[int, str]:
    def fetch() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    return await asyncio.to_thread(fetch)


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.timeout(120)
async def test_metrics_count_the_claims_retries_and_dead_letters_of_a_known_workload(
    database_url: str,
) -> None:
    metrics = Metrics()
    client = await turnout.connect(executor="internal", database_url=database_url)
    try:
        async with turnout.Worker(
            client,
            task_queue=Q,
            workflows=WORKFLOWS,
            activities=ACTIVITIES,
            observer=WorkerObserver(metrics=metrics),
        ):
            server = await serve_metrics(metrics, 0, host="127.0.0.1")
            try:
                async with asyncio.timeout(WAIT):
                    handles = [
                        await client.start_workflow(
                            ObservedWorkflow.run, f"ok-{i}", id=f"ok-{i}", task_queue=Q
                        )
                        for i in range(RUNS)
                    ]
                    handles.append(
                        await client.start_workflow(
                            FlakyWorkflow.run, "flaky", id="flaky", task_queue=Q
                        )
                    )
                    handles.append(
                        await client.start_workflow(
                            DoomedWorkflow.run, "doomed", id="doomed", task_queue=Q
                        )
                    )
                    results = [await h.result() for h in handles]
                status, text = await _get(server.port, "/metrics")
            finally:
                await server.close()
    finally:
        await client.close()

    assert results[-1] == "dead-lettered"
    assert status == 200
    s = _samples(text)
    runs = RUNS + 2
    # Every run: two workflow tasks (start, then the activity's result). Activities: one
    # attempt per ok run, two for the flaky one, three for the doomed one.
    assert _value(s, "turnout_claims_total", task_queue=Q, kind="workflow_task") == 2 * runs
    assert _value(s, "turnout_claims_total", task_queue=Q, kind="activity_task") == RUNS + 2 + 3
    assert _value(s, "turnout_activity_retries_total", task_queue=Q, activity_type="obs_flaky") == 1
    assert (
        _value(s, "turnout_activity_retries_total", task_queue=Q, activity_type="obs_doomed") == 2
    )
    assert (
        _value(
            s, "turnout_activities_dead_lettered_total", task_queue=Q, activity_type="obs_doomed"
        )
        == 1
    )
    assert (
        _value(s, "turnout_activities_dead_lettered_total", task_queue=Q, activity_type="obs_ok")
        == 0
    )
    assert _value(s, "turnout_lease_expirations_total", task_queue=Q, kind="activity_task") == 0
    assert (
        _value(
            s, "turnout_nondeterminism_errors_total", task_queue=Q, workflow_type="ObservedWorkflow"
        )
        == 0
    )
    completed = _value(
        s,
        "turnout_activity_seconds_count",
        task_queue=Q,
        activity_type="obs_ok",
        outcome="completed",
    )
    assert completed == RUNS
    failed = _value(
        s,
        "turnout_activity_seconds_count",
        task_queue=Q,
        activity_type="obs_doomed",
        outcome="failed",
    )
    assert failed == 3
    assert (
        _value(s, "turnout_workflow_seconds_count", task_queue=Q, workflow_type="ObservedWorkflow")
        == RUNS
    )
    # The figures of `turnout metrics`, read from the database on each scrape.
    assert _value(s, "turnout_runs", state="completed") == runs
    assert _value(s, "turnout_dead_letters", task_queue=Q) == 1
    assert _value(s, "turnout_pending_approvals") == 0
    slots = [k for k in s if k[0] == "turnout_worker_slots"]
    assert slots, "the worker's slots are reported"


@pytest.mark.timeout(120)
async def test_spans_form_the_workflow_to_activity_tree_with_the_correlation_id(
    sqlite_url: str,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = await turnout.connect(executor="internal", database_url=sqlite_url)
    try:
        async with turnout.Worker(
            client,
            task_queue=Q,
            workflows=WORKFLOWS,
            activities=ACTIVITIES,
            observer=WorkerObserver(tracer_provider=provider),
        ):
            handle = await client.start_workflow(
                FlakyWorkflow.run, "traced", id="traced", task_queue=Q
            )
            async with asyncio.timeout(WAIT):
                assert await handle.result() == "traced"
        run = await handle.describe()
    finally:
        await client.close()
        provider.shutdown()

    spans = exporter.get_finished_spans()
    workflow_spans = [s for s in spans if s.name == "RunWorkflow:FlakyWorkflow"]
    activity_spans = [s for s in spans if s.name == "RunActivity:obs_flaky"]
    assert len(workflow_spans) == 2  # the start, then the activity's result
    assert len(activity_spans) == 2  # the failed attempt and the retry
    for span in [*workflow_spans, *activity_spans]:
        assert span.attributes is not None
        assert span.attributes["turnout.correlation_id"] == run.correlation_id
        assert span.attributes["turnout.workflow_id"] == "traced"
        assert span.attributes["turnout.run_id"] == run.run_id
        assert span.context is not None
        assert f"{span.context.trace_id:032x}" == run.correlation_id
    scheduler = workflow_spans[0]
    assert scheduler.context is not None
    for span in activity_spans:
        assert span.parent is not None
        assert span.parent.span_id == scheduler.context.span_id
    attempts = sorted(int(s.attributes["turnout.attempt"]) for s in activity_spans)  # type: ignore[index]
    assert attempts == [1, 2]
    failed = [s for s in activity_spans if not s.status.is_ok]
    assert len(failed) == 1


@pytest.mark.timeout(60)
async def test_a_run_started_under_a_span_joins_its_trace(sqlite_url: str) -> None:
    provider = TracerProvider()
    client = await turnout.connect(executor="internal", database_url=sqlite_url)
    try:
        with provider.get_tracer("test").start_as_current_span("request") as span:
            handle = await client.start_workflow(
                ObservedWorkflow.run, "x", id="under-a-span", task_queue=Q
            )
        run = await handle.describe()
    finally:
        await client.close()
    assert run.correlation_id == f"{span.get_span_context().trace_id:032x}"


@pytest.mark.timeout(60)
async def test_every_log_line_of_a_task_names_its_run(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(TaskContextFilter())
    caplog.set_level(logging.INFO, logger="turnout.activity")
    client = await turnout.connect(executor="internal", database_url=sqlite_url)
    try:
        async with turnout.Worker(client, task_queue=Q, workflows=WORKFLOWS, activities=ACTIVITIES):
            handle = await client.start_workflow(
                ObservedWorkflow.run, "logged", id="logged", task_queue=Q
            )
            async with asyncio.timeout(WAIT):
                await handle.result()
        run = await handle.describe()
    finally:
        await client.close()
    lines = [r for r in caplog.records if r.name == "turnout.activity"]
    assert lines
    for record in lines:
        assert record.__dict__["workflow_id"] == "logged"
        assert record.__dict__["run_id"] == run.run_id
        assert record.__dict__["correlation_id"] == run.correlation_id
        assert record.__dict__["attempt"] == 1


@pytest.mark.timeout(60)
async def test_healthz_and_readyz_of_a_running_worker(sqlite_url: str) -> None:
    client = await turnout.connect(executor="internal", database_url=sqlite_url)
    try:
        worker = turnout.Worker(client, task_queue=Q, workflows=WORKFLOWS, activities=ACTIVITIES)
        server = await serve_health([worker], 0, host="127.0.0.1")
        try:
            status, body = await _get(server.port, "/readyz")
            assert status == 503
            assert "claim loop" in json.loads(body)["reason"]
            async with worker:
                assert (await _get(server.port, "/healthz"))[0] == 200
                status, body = await _get(server.port, "/readyz")
                assert status == 200, body
                assert json.loads(body)["status"] == "ready"
            assert (await _get(server.port, "/nowhere"))[0] == 404
        finally:
            await server.close()
    finally:
        await client.close()


@pytest.mark.timeout(60)
async def test_doctor_reports_the_queues_and_a_queue_nothing_claims_from(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from turnout.cli import _doctor

    client = await turnout.connect(executor="internal", database_url=sqlite_url)
    try:
        await client.start_workflow(ObservedWorkflow.run, "x", id="idle", task_queue="nobody")
    finally:
        await client.close()
    options = {"executor": "internal", "database_url": sqlite_url}

    [queues] = [c for c in await _doctor.run_checks(options) if c.name == "queues"]
    assert queues.ok, queues
    assert "nobody: depth 1" in queues.detail

    monkeypatch.setattr(_doctor, "STALL_SECONDS", 0.0)
    [queues] = [c for c in await _doctor.run_checks(options) if c.name == "queues"]
    assert not queues.ok
    assert "nothing claims from nobody" in queues.detail
    assert queues.fix is not None
    assert "turnout worker MODULE --task-queue nobody" in queues.fix


@pytest.mark.timeout(60)
async def test_a_non_determinism_error_is_counted(sqlite_url: str) -> None:
    from tests import workflows_for_tests as wf
    from turnout import EventType

    activities = [wf.greet, wf.shout]
    metrics = Metrics()
    client = await turnout.connect(executor="internal", database_url=sqlite_url)
    try:
        handle = await client.start_workflow(
            wf.DeterminismWorkflow.run, id="changed", task_queue="det"
        )
        async with turnout.Worker(
            client, task_queue="det", workflows=[wf.DeterminismWorkflow], activities=activities
        ):
            async with asyncio.timeout(WAIT):
                while (
                    not any(e.type is EventType.ACTIVITY_COMPLETED for e in await handle.events())
                    or (await handle.events())[-1].type is not EventType.WORKFLOW_TASK_COMPLETED
                ):
                    await asyncio.sleep(0.02)
        # A deploy with a careless change: the next workflow task contradicts the history.
        async with turnout.Worker(
            client,
            task_queue="det",
            workflows=[wf.DeterminismWorkflowChanged],
            activities=activities,
            observer=WorkerObserver(metrics=metrics),
        ):
            await handle.signal("proceed")
            async with asyncio.timeout(WAIT):
                while not any(
                    e.type is EventType.WORKFLOW_TASK_FAILED for e in await handle.events()
                ):
                    await asyncio.sleep(0.02)
    finally:
        await client.close()
    s = _samples(metrics.exposition().decode())
    labels = {"task_queue": "det", "workflow_type": "DeterminismWorkflow"}
    assert _value(s, "turnout_nondeterminism_errors_total", **labels) >= 1
    assert _value(s, "turnout_workflow_task_failures_total", **labels) >= 1


class _Broken(Observer):
    """An observer whose every hook raises."""

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_") or not callable(getattr(Observer, name, None)):
            return object.__getattribute__(self, name)

        def hook(*args: Any) -> Any:
            raise RuntimeError(f"{name} is broken")

        return hook


@pytest.mark.timeout(60)
async def test_a_worker_whose_observer_raises_still_completes_its_runs(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="turnout.observer")
    client = await turnout.connect(executor="internal", database_url=sqlite_url)
    try:
        async with turnout.Worker(
            client, task_queue=Q, workflows=WORKFLOWS, activities=ACTIVITIES, observer=_Broken()
        ):
            handles = [
                await client.start_workflow(FlakyWorkflow.run, key, id=key, task_queue=Q)
                for key in ("broken-1", "broken-2")
            ]
            async with asyncio.timeout(30):
                results = [await h.result() for h in handles]
    finally:
        await client.close()
    assert results == ["broken-1", "broken-2"]
    # Each failing hook is logged, once a minute at most.
    hooks = [r.getMessage().split(" raised")[0].split(".")[-1] for r in caplog.records]
    assert "claimed" in hooks
    assert "activity_running" in hooks
    assert "retried" in hooks
    assert len(hooks) == len(set(hooks))


@pytest.mark.timeout(60)
async def test_an_expired_lease_is_counted(sqlite_url: str) -> None:
    from turnout.executors.internal.reaper import reap_once
    from turnout.executors.internal.store.base import utcnow

    metrics = Metrics()
    client = await turnout.connect(executor="internal", database_url=sqlite_url)
    try:
        await client.start_workflow(ObservedWorkflow.run, "x", id="stalled", task_queue=Q)
        (item,) = await client.store.claim(
            ClaimParams(
                Q, "a-worker-that-stalls", workflow_tasks=1, activities=0, workflow_lease=0.2
            )
        )
        # No event marks a lease's end: wait out its time, once.
        await asyncio.sleep(max((item.lease_expires_at - utcnow()).total_seconds(), 0) + 0.05)
        assert await reap_once(client.store, WorkerObserver(metrics=metrics)) == 1
    finally:
        await client.close()
    s = _samples(metrics.exposition().decode())
    assert _value(s, "turnout_lease_expirations_total", task_queue=Q, kind="workflow_task") == 1


@pytest.mark.timeout(60)
async def test_a_head_request_gets_the_headers_without_a_body() -> None:
    server = await serve_health([], 0)
    assert server.host == "127.0.0.1", "this machine only unless told otherwise"

    def head() -> bytes:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while chunk := sock.recv(4096):  # the server closes after one response
                received += chunk
            return received

    try:
        sent = await asyncio.to_thread(head)
    finally:
        await server.close()
    headers, _, body = sent.partition(b"\r\n\r\n")
    assert headers.startswith(b"HTTP/1.1 200 OK")
    assert b"Content-Length: 0" not in headers
    assert body == b""
