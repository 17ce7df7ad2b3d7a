"""The benchmark harness runs end to end: ``python -m benchmarks run`` at a tiny scale on
internal-sqlite, as a subprocess, with one worker subprocess. Timings are never asserted;
the run must finish every workload, write its JSON result and print its tables."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from benchmarks import event_loop
from benchmarks.report import finish
from benchmarks.workloads import WORKLOADS, sizes_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    output = tmp_path_factory.mktemp("bench") / "result.json"
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("TURNOUT_EXECUTOR", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "run",
            "--executors",
            "internal-sqlite",
            "--n",
            "4",
            "--worker-processes",
            "1",
            "--timeout",
            "60",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(output.read_text()), done.stdout


def test_every_workload_ran_with_positive_counts(tiny_run: tuple[dict[str, Any], str]) -> None:
    doc, _ = tiny_run
    results = doc["executors"]["internal-sqlite"]["workloads"]
    assert set(results) == set(WORKLOADS)
    for name, result in results.items():
        assert "error" not in result, (name, result.get("traceback"))
        if name == "claim":
            assert result["history_runs"] > 0
            for phase in ("empty", "filled"):
                assert result[phase]["units"] > 0
                assert result[phase]["samples"] > 0
            continue
        assert result["units"] > 0, name
        assert result["completed"] == result["units"], name
        assert result["samples"] == result["units"], name
        assert result["cpu_s_per_1k"] > 0, name
        assert result["worker_peak_rss_mib"] > 0, name


def test_table_targets_and_ratios_are_printed(tiny_run: tuple[dict[str, Any], str]) -> None:
    doc, stdout = tiny_run
    assert "turnout benchmark" in stdout
    assert "one activity" in stdout
    assert "claim, empty" in stdout
    assert "targets (informational)" in stdout
    assert "ratios between executors" in stdout
    wakeup = doc["machine"]["wakeup"]
    assert wakeup["idle_ms"] > 0
    assert wakeup["busy_ms"] > 0
    assert "waking an idle process" in stdout
    assert wakeup["page_idle_us"] > 0
    assert wakeup["page_busy_us"] > 0
    assert "touching a page of memory" in stdout
    assert doc["machine"]["event_loop"] == "asyncio"
    assert "event loop asyncio (TURNOUT_EVENT_LOOP)" in stdout
    names = {(t["name"], t["executor"]) for t in doc["targets"]}
    assert ("one-activity throughput", "internal-sqlite") in names
    assert all(t["executor"] == "internal-sqlite" for t in doc["targets"])
    assert {r["workload"] for r in doc["ratios"]} >= {"one_activity", "idle"}


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_harness_runs_on_the_loop_turnout_event_loop_names(
    monkeypatch: pytest.MonkeyPatch, loop: str
) -> None:
    monkeypatch.setenv("TURNOUT_EVENT_LOOP", loop)

    async def running() -> str:
        return type(asyncio.get_running_loop()).__module__.split(".")[0]

    assert event_loop.name() == loop
    assert event_loop.run(running()) == loop


def test_sizes_scale_down_but_never_below_a_minimum() -> None:
    full = sizes_for(1.0)
    assert full["one_activity"] == 2000
    assert full["claim"] == 1_000_000
    tiny = sizes_for(0.0001)
    assert all(count >= 1 for count in tiny.values())
    assert all(tiny[name] <= full[name] for name in full)


def test_targets_of_missing_executors_are_left_out() -> None:
    doc = finish({"executors": {"temporal": {"workloads": {}}}})
    assert doc["targets"] == []
    assert all(value is None for row in doc["ratios"] for key, value in row.items() if "/" in key)
