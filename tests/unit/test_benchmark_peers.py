"""The benchmark's peers (DBOS, Procrastinate) without their packages: the report's
ratios and targets against them, what each peer skips, how a workload's calls become
a peer's, and that nothing imports a peer unless it is chosen. Nothing here needs
dbos or procrastinate installed, and no timing is asserted."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from benchmarks.flows import Echo, OneActivity, Pickup
from benchmarks.peers.base import PeerClient
from benchmarks.peers.dbos_target import DbosTarget
from benchmarks.peers.procrastinate_target import ProcrastinateClient, ProcrastinateTarget
from benchmarks.report import finish, render, times_better
from benchmarks.targets import ALL_EXECUTORS, EXECUTORS, TargetUnavailable, make_target
from rich.console import Console

ROOT = Path(__file__).resolve().parents[2]
PG = "internal-postgres"


def _doc(**figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A result document: executor -> workload -> result."""
    return {
        "executors": {
            name.replace("_", "-"): {"workloads": workloads} for name, workloads in figures.items()
        }
    }


def test_times_better_divides_throughput_one_way_and_latency_the_other() -> None:
    doc = _doc(
        internal_postgres={"one_activity": {"throughput_per_s": 900.0}, "idle": {"p50_ms": 4.0}},
        dbos={"one_activity": {"throughput_per_s": 90.0}, "idle": {"p50_ms": 40.0}},
    )
    assert times_better(doc, PG, "dbos", "one_activity") == pytest.approx(10.0)
    assert times_better(doc, PG, "dbos", "idle") == pytest.approx(10.0)
    assert times_better(doc, "dbos", PG, "idle") == pytest.approx(0.1)
    assert times_better(doc, PG, "temporal", "one_activity") is None
    assert times_better(doc, PG, "dbos", "signal") is None


def _target(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in doc["targets"] if t["name"] == name)


def test_the_vs_dbos_and_vs_temporal_targets_take_their_figures_from_the_same_run() -> None:
    doc = finish(
        _doc(
            internal_postgres={"one_activity": {"throughput_per_s": 1000.0}},
            dbos={"one_activity": {"throughput_per_s": 125.0}},
            temporal={"one_activity": {"throughput_per_s": 40.0}},
        )
    )
    dbos = _target(doc, "one-activity throughput vs DBOS")
    assert (dbos["value"], dbos["measured"], dbos["met"]) == (8.0, "8.0x", False)
    assert dbos["target"] == ">= 10x dbos"
    temporal = _target(doc, "one-activity throughput vs Temporal")
    assert (temporal["value"], temporal["met"]) == (25.0, True)
    assert temporal["target"] == ">= 20x temporal"


def test_a_ratio_target_without_its_peer_in_the_run_is_not_applicable() -> None:
    doc = finish(_doc(internal_postgres={"one_activity": {"throughput_per_s": 1000.0}}))
    dbos = _target(doc, "one-activity throughput vs DBOS")
    assert (dbos["value"], dbos["measured"], dbos["met"]) == (None, "n/a", None)


def test_peers_get_ratio_columns_only_when_they_ran() -> None:
    alone = finish(_doc(internal_postgres={"one_activity": {"throughput_per_s": 1000.0}}))
    assert not any("dbos" in key or "procrastinate" in key for key in alone["ratios"][0])
    doc = finish(
        _doc(
            internal_postgres={"one_activity": {"throughput_per_s": 1000.0}},
            dbos={"one_activity": {"throughput_per_s": 100.0}},
            procrastinate={"one_activity": {"throughput_per_s": 500.0}},
        )
    )
    row = next(r for r in doc["ratios"] if r["workload"] == "one_activity")
    assert row[f"{PG} / dbos"] == pytest.approx(10.0)
    assert row[f"{PG} / procrastinate"] == pytest.approx(2.0)
    names = {t["name"] for t in doc["targets"]}
    assert not any("rocrastinate" in name for name in names)  # printed beside, no target


def test_render_prints_a_peers_note_and_the_workloads_it_skipped() -> None:
    doc = _doc(procrastinate={"signal": {"skipped": "no messages", "size": 3}})
    doc["executors"]["procrastinate"]["info"] = {"sdk": "3.0", "note": "a task queue [sic]"}
    out = io.StringIO()
    render(finish(doc), Console(file=out, width=200))
    text = out.getvalue()
    assert "procrastinate (3.0): a task queue [sic]" in text
    assert "procrastinate / signal: skipped, no messages" in text


def test_peers_run_on_request_only_and_skip_what_does_not_fit_with_a_reason() -> None:
    assert set(EXECUTORS) == {"internal-sqlite", "internal-postgres", "temporal"}
    assert set(ALL_EXECUTORS) == {*EXECUTORS, "dbos", "procrastinate"}
    dbos = make_target("dbos", worker_processes=2)
    procrastinate = make_target("procrastinate", worker_processes=2)
    assert isinstance(dbos, DbosTarget)
    assert isinstance(procrastinate, ProcrastinateTarget)
    for workload in ("one_activity", "sequential", "fan_out", "signal", "idle"):
        assert dbos.skip_reason(workload) is None, workload
    for workload in ("one_activity", "idle"):
        assert procrastinate.skip_reason(workload) is None, workload
    for target in (dbos, procrastinate):
        assert target.skip_reason("claim")
        assert target.skip_reason("a_workload_added_later") == f"not implemented for {target.name}"
    for workload in ("sequential", "fan_out", "signal"):
        assert "task queue" in (procrastinate.skip_reason(workload) or ""), workload
    assert not dbos.internal
    assert not procrastinate.internal


async def test_a_missing_peer_package_is_one_line_saying_what_to_install() -> None:
    class Missing(DbosTarget):
        package = "turnout_bench_no_such_package"

    target = Missing(1)
    with pytest.raises(TargetUnavailable) as caught:
        await target.setup()
    await target.teardown()
    message = str(caught.value)
    assert message == "turnout_bench_no_such_package is not installed: pip install -e '.[bench]'"


class _Recording(PeerClient):
    def __init__(self) -> None:
        super().__init__("postgresql://nowhere/db")
        self.calls: list[tuple[Any, ...]] = []

    async def start(self, name: str, values: list[Any], workflow_id: str, queue: str) -> None:
        self.calls.append(("start", name, values, workflow_id, queue))

    async def signal(self, workflow_id: str, name: str, arg: Any) -> None:
        self.calls.append(("signal", workflow_id, name, arg))

    async def close(self) -> None:
        self.calls.append(("close",))


async def test_a_workloads_calls_become_the_peers_by_workflow_and_signal_name() -> None:
    client = _Recording()
    await client.start_workflow(OneActivity.run, 1, id="w-1", task_queue="q")
    await client.start_workflow(Pickup.run, args=["127.0.0.1:9", "w-2"], id="w-2", task_queue="q")
    handle = await client.start_workflow(Echo.run, "127.0.0.1:9", id="w-3", task_queue="q")
    await handle.signal(Echo.echo, "t-1")
    await handle.signal(Echo.finish)
    assert client.calls == [
        ("start", "one_activity", [1], "w-1", "q"),
        ("start", "pickup", ["127.0.0.1:9", "w-2"], "w-2", "q"),
        ("start", "echo", ["127.0.0.1:9"], "w-3", "q"),
        ("signal", "w-3", "echo", "t-1"),
        ("signal", "w-3", "finish", None),
    ]
    with pytest.raises(ValueError, match="no version on this peer"):
        await client.start_workflow(Echo.echo, id="w-4", task_queue="q")


async def test_a_procrastinate_job_carries_the_workflow_id_as_its_tag() -> None:
    deferred: list[tuple[str, str, dict[str, Any]]] = []

    class Deferrer:
        def __init__(self, task: str, queue: str) -> None:
            self.task, self.queue = task, queue

        async def defer_async(self, **kwargs: Any) -> int:
            deferred.append((self.task, self.queue, kwargs))
            return len(deferred)

    class App:
        def configure_task(self, name: str, *, queue: str) -> Deferrer:
            return Deferrer(name, queue)

    client = ProcrastinateClient("postgresql://nowhere/db", App())
    await client.start_workflow(OneActivity.run, 1, id="w-1", task_queue="q")
    await client.start_workflow(Pickup.run, args=["127.0.0.1:9", "w-2"], id="w-2", task_queue="q")
    assert deferred == [
        ("noop", "q", {"tag": "w-1", "value": 1}),
        ("ping", "q", {"tag": "w-2", "address": "127.0.0.1:9", "ping_tag": "w-2"}),
    ]


def test_the_harness_imports_no_peer_and_a_peers_target_not_its_package() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["dbos"] = None  # as if the bench extra were not installed
        sys.modules["procrastinate"] = None
        import benchmarks.__main__, benchmarks.runner, benchmarks.report, benchmarks.workloads
        assert not [m for m in sys.modules if m.startswith("benchmarks.peers")], "peers loaded"
        from benchmarks.targets import make_target
        for name in ("dbos", "procrastinate"):
            target = make_target(name, worker_processes=1)
            assert target.skip_reason("one_activity") is None
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
