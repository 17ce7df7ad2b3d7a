"""``turnout metrics``: the figures of the queues and runs, read from the database."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from click.testing import CliRunner

import turnout
from tests import governance_workflows as gw
from turnout import RunState
from turnout.cli import cli

Q = "figures"


async def _three_runs(url: str) -> None:
    """One run completed, one waiting on its approval, one queued on a queue nobody polls."""
    client = await turnout.connect(executor="internal", database_url=url, tenant="tenant-a")
    try:
        worker = turnout.Worker(
            client, task_queue=Q, workflows=gw.WORKFLOWS, activities=gw.ACTIVITIES
        )
        async with worker:
            await client.execute_workflow(gw.Reports.run, id="done", task_queue=Q)
            waiting = await client.start_workflow(gw.Deploy.run, "prod", id="wait", task_queue=Q)
            async with asyncio.timeout(20):
                while (await waiting.describe()).state is not RunState.WAITING_APPROVAL:
                    await asyncio.sleep(0.02)
        await client.start_workflow(gw.Reports.run, id="idle", task_queue="nobody-polls")
    finally:
        await client.close()


def _figures(url: str, tenant: str) -> list[dict[str, Any]]:
    done = CliRunner().invoke(cli, ["--database-url", url, "--tenant", tenant, "metrics", "--json"])
    assert done.exit_code == 0, done.output
    return [json.loads(line) for line in done.output.splitlines()]


def _value(figures: list[dict[str, Any]], name: str, **labels: str) -> float | None:
    found = [f["value"] for f in figures if f["name"] == name and f["labels"] == labels]
    return found[0] if found else None


def test_metrics_reads_depth_lag_runs_and_approvals_of_the_tenant(database_url: str) -> None:
    asyncio.run(_three_runs(database_url))

    figures = _figures(database_url, "tenant-a")

    assert _value(figures, "turnout_runs", state="completed") == 1
    assert _value(figures, "turnout_runs", state="waiting_approval") == 1
    assert _value(figures, "turnout_runs", state="queued") == 1
    assert _value(figures, "turnout_pending_approvals") == 1
    depth = _value(figures, "turnout_queue_depth", task_queue="nobody-polls", kind="workflow_task")
    assert depth == 1
    lag = _value(figures, "turnout_queue_lag_seconds", task_queue="nobody-polls")
    assert lag is not None
    assert lag >= 0
    # Another tenant's figures do not include tenant A's runs.
    other = _figures(database_url, "tenant-b")
    assert [f for f in other if f["name"] != "turnout_pending_approvals"] == []
    assert _value(other, "turnout_pending_approvals") == 0


def test_metrics_prints_prometheus_text(sqlite_url: str) -> None:
    asyncio.run(_three_runs(sqlite_url))

    done = CliRunner().invoke(
        cli, ["--database-url", sqlite_url, "--tenant", "tenant-a", "metrics"]
    )

    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert "# TYPE turnout_runs gauge" in lines
    assert 'turnout_runs{state="completed"} 1' in lines
    assert "turnout_pending_approvals 1" in lines


def test_an_idle_queue_has_its_depth_and_lag_series_at_zero(database_url: str) -> None:
    """A queue with nothing ready (its runs done or waiting) keeps its series, at 0: an
    alert on the lag cannot tell a missing series from an unmeasured queue."""
    asyncio.run(_three_runs(database_url))

    figures = _figures(database_url, "tenant-a")

    for kind in ("workflow_task", "activity_task"):
        assert _value(figures, "turnout_queue_depth", task_queue=Q, kind=kind) == 0
    assert _value(figures, "turnout_queue_lag_seconds", task_queue=Q) == 0
    assert _value(figures, "turnout_queue_depth", task_queue="nobody-polls", kind="workflow_task")


async def _scrape_of_an_idle_worker(url: str) -> str:
    from turnout.observability import Metrics, WorkerObserver

    metrics = Metrics()
    client = await turnout.connect(executor="internal", database_url=url)
    try:
        async with turnout.Worker(
            client,
            task_queue="idle-queue",
            workflows=gw.WORKFLOWS,
            activities=gw.ACTIVITIES,
            observer=WorkerObserver(metrics=metrics),
        ):
            await metrics.refresh()
            return metrics.exposition().decode()
    finally:
        await client.close()


def test_the_metrics_of_a_worker_on_an_idle_queue_have_its_depth_and_lag_at_zero(
    database_url: str,
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    text = asyncio.run(_scrape_of_an_idle_worker(database_url))

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    for kind in ("workflow_task", "activity_task"):
        key = ("turnout_queue_depth", (("kind", kind), ("task_queue", "idle-queue")))
        assert samples.get(key) == 0, text
    assert samples.get(("turnout_queue_lag_seconds", (("task_queue", "idle-queue"),))) == 0, text
