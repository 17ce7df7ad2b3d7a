"""Observability of a Temporal worker: the same metric names for what an activity does, and
temporalio's spans carrying turnout's attribute names, on a real Temporal dev server."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
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
    obs_ok,
)
from turnout.observability import Metrics, WorkerObserver

pytestmark = pytest.mark.temporal
WAIT = 60.0


def _value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


@pytest.mark.timeout(120)
async def test_temporal_worker_reports_activity_metrics_and_spans_with_the_correlation_id(
    temporal_address: str,
) -> None:
    queue = f"observed-{uuid.uuid4().hex[:8]}"
    metrics = Metrics()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client: Any = await turnout.connect(executor="temporal", temporal_address=temporal_address)
    try:
        async with turnout.Worker(
            client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=ACTIVITIES,
            observer=WorkerObserver(metrics=metrics, tracer_provider=provider),
        ):
            flaky = await client.start_workflow(
                FlakyWorkflow.run, "f", id=f"flaky-{queue}", task_queue=queue
            )
            doomed = await client.start_workflow(
                DoomedWorkflow.run, "d", id=f"doomed-{queue}", task_queue=queue
            )
            async with asyncio.timeout(WAIT):
                assert await flaky.result() == "f"
                assert await doomed.result() == "dead-lettered"
        run = await flaky.describe()
    finally:
        await client.close()
        provider.shutdown()

    text = metrics.exposition().decode()
    assert _value(text, "turnout_claims_total", task_queue=queue, kind="activity_task") == 5
    assert (
        _value(text, "turnout_activity_retries_total", task_queue=queue, activity_type="obs_flaky")
        == 1
    )
    assert (
        _value(text, "turnout_activity_retries_total", task_queue=queue, activity_type="obs_doomed")
        == 2
    )
    dead = _value(
        text, "turnout_activities_dead_lettered_total", task_queue=queue, activity_type="obs_doomed"
    )
    assert dead == 1

    spans = exporter.get_finished_spans()
    mine = [s for s in spans if (s.attributes or {}).get("turnout.run_id") == run.run_id]
    workflow_spans = [s for s in mine if s.name == "RunWorkflow:FlakyWorkflow"]
    activity_spans = [s for s in mine if s.name == "RunActivity:obs_flaky"]
    assert workflow_spans
    assert len(activity_spans) == 2
    for span in [*workflow_spans, *activity_spans]:
        assert (span.attributes or {})["turnout.correlation_id"] == run.correlation_id
    # One trace, the run's (its correlation id). temporalio's shape: the workflow's spans
    # (RunWorkflow, StartActivity) hang from the run; each RunActivity from its StartActivity.
    root = workflow_spans[0]
    assert root.context is not None
    assert root.parent is not None
    assert f"{root.context.trace_id:032x}" == run.correlation_id
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    for span in activity_spans:
        assert span.parent is not None
        scheduler = by_id[span.parent.span_id]
        assert scheduler.name == "StartActivity:obs_flaky"
        assert scheduler.parent is not None
        assert scheduler.parent.span_id == root.parent.span_id


@pytest.mark.timeout(30)
@pytest.mark.parametrize("final", [False, True])
async def test_a_cancelled_activity_attempt_is_neither_a_retry_nor_a_dead_letter(
    final: bool,
) -> None:
    import temporalio.common
    import temporalio.worker
    from temporalio.testing import ActivityEnvironment

    from turnout.executors.temporal._observability import _ObservedActivity

    class Cancelled(temporalio.worker.ActivityInboundInterceptor):
        def __init__(self) -> None:
            pass

        async def execute_activity(self, input: temporalio.worker.ExecuteActivityInput) -> Any:
            raise asyncio.CancelledError  # the worker shuts down, or the run asked

    metrics = Metrics()
    observed = _ObservedActivity(Cancelled(), metrics)
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info,
        task_queue="cancelled",
        activity_type="obs_ok",
        retry_policy=temporalio.common.RetryPolicy(maximum_attempts=1) if final else None,
    )

    async def attempt() -> None:
        await observed.execute_activity(
            temporalio.worker.ExecuteActivityInput(fn=obs_ok, args=[], executor=None, headers={})
        )

    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):
            await environment.run(attempt)
    text = metrics.exposition().decode()
    labels = {"task_queue": "cancelled", "activity_type": "obs_ok"}
    assert _value(text, "turnout_activity_retries_total", **labels) == 0
    assert _value(text, "turnout_activities_dead_lettered_total", **labels) == 0


@pytest.mark.timeout(120)
async def test_a_temporal_run_started_under_a_span_joins_its_trace(temporal_address: str) -> None:
    queue = f"traced-{uuid.uuid4().hex[:8]}"
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client: Any = await turnout.connect(executor="temporal", temporal_address=temporal_address)
    try:
        with provider.get_tracer("test").start_as_current_span("request") as span:
            handle = await client.start_workflow(
                ObservedWorkflow.run, "x", id=f"under-a-span-{queue}", task_queue=queue
            )
        async with turnout.Worker(
            client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=ACTIVITIES,
            observer=WorkerObserver(tracer_provider=provider),
        ):
            async with asyncio.timeout(WAIT):
                assert await handle.result() == "x"
        run = await handle.describe()
    finally:
        await client.close()
        provider.shutdown()
    trace_id = span.get_span_context().trace_id
    assert run.correlation_id == f"{trace_id:032x}"
    mine = [
        s
        for s in exporter.get_finished_spans()
        if (s.attributes or {}).get("turnout.run_id") == run.run_id
    ]
    assert {s.name for s in mine} >= {"RunWorkflow:ObservedWorkflow", "RunActivity:obs_ok"}
    assert all(s.context is not None and s.context.trace_id == trace_id for s in mine)


@pytest.mark.timeout(60)
async def test_readiness_on_temporal_asks_the_server_and_no_slots_in_use_are_made_up(
    temporal_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from turnout.observability import readiness

    queue = f"ready-{uuid.uuid4().hex[:8]}"
    metrics = Metrics()
    client: Any = await turnout.connect(executor="temporal", temporal_address=temporal_address)
    try:
        async with turnout.Worker(
            client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=ACTIVITIES,
            observer=WorkerObserver(metrics=metrics),
        ) as worker:
            verdict = await readiness(worker)
            assert verdict.ready, verdict.checks
            assert verdict.checks["temporal server"] == "ok"

            async def hangs(**options: Any) -> bool:
                await asyncio.Event().wait()
                return True

            # A server that does not answer (stopped, or the network in between).
            monkeypatch.setattr(client.raw.service_client, "check_health", hangs)
            async with asyncio.timeout(10):
                verdict = await readiness(worker, timeout=0.2)
            assert not verdict.ready
            assert verdict.checks["temporal server"] == "unreachable: no answer within 0.2s"
            text = metrics.exposition().decode()
    finally:
        await client.close()
    assert "turnout_worker_slots_in_use{" not in text
    assert f'turnout_worker_slots{{kind="activity_task",task_queue="{queue}"' in text


@pytest.mark.timeout(60)
async def test_a_temporal_worker_whose_observer_raises_still_runs(temporal_address: str) -> None:
    from tests.integration.test_observability import _Broken

    queue = f"broken-{uuid.uuid4().hex[:8]}"
    client: Any = await turnout.connect(executor="temporal", temporal_address=temporal_address)
    try:
        async with turnout.Worker(
            client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES, observer=_Broken()
        ):
            handle = await client.start_workflow(
                ObservedWorkflow.run, "x", id=f"broken-{queue}", task_queue=queue
            )
            async with asyncio.timeout(WAIT):
                assert await handle.result() == "x"
    finally:
        await client.close()
