"""``python -m benchmarks scaling``: its sizes, its argument checks and its table, and one
tiny run on internal-sqlite as a subprocess. Timings are never asserted."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from benchmarks.__main__ import cli
from benchmarks.scaling import (
    ScalingConfig,
    default_output,
    parse_counts,
    render,
    rows,
    sizes,
)
from click.testing import CliRunner
from rich.console import Console

ROOT = Path(__file__).resolve().parents[2]


def test_worker_counts_are_distinct_positive_numbers_in_the_given_order() -> None:
    assert parse_counts("1,2,4") == [1, 2, 4]
    assert parse_counts(" 4 , 1 ,") == [4, 1]
    for bad in ("", " , ", "0", "-1", "two", "1.5", "2,2"):
        with pytest.raises(ValueError, match="worker count"):
            parse_counts(bad)


def test_full_size_is_the_default_and_a_given_size_beats_the_scale() -> None:
    assert sizes() == {"n": 2000, "backlog": 10_000, "claim_runs": 1_000_000}
    assert sizes(0.05) == {"n": 100, "backlog": 500, "claim_runs": 50_000}
    assert sizes(0.05, backlog=20, claim_runs=0) == {"n": 100, "backlog": 20, "claim_runs": 0}
    tiny = sizes(1e-9)
    assert all(count >= 4 for count in tiny.values())


def test_the_backlog_is_drained_by_the_largest_worker_count_unless_told() -> None:
    assert ScalingConfig(workers=[1, 4, 2]).drain_workers == [4]
    assert ScalingConfig(workers=[1, 2], backlog_workers=[1, 2]).drain_workers == [1, 2]


def test_results_go_to_the_results_folder_under_a_name_of_their_own() -> None:
    path = default_output(datetime(2026, 12, 7, 3, 4, 5, tzinfo=UTC))
    assert path.parent.name == "results"
    assert path.name == "scaling-20261207T030405Z.json"


def _entry() -> dict[str, Any]:
    def throughput(k: int, rate: float) -> dict[str, Any]:
        return {
            "kind": "throughput",
            "workers": k,
            "units": 2000,
            "throughput_per_s": rate,
            "seconds": 2000 / rate,
            "p50_ms": 120.0,
            "p95_ms": 300.0,
            "cpu_s_per_1k": 2.5,
            "cpu_server_s": 1.0,
            "server_cpu_s_per_1k": 0.5,
            "commits_per_unit": 1.25,
            "worker_rss_end_mib": 90.4,
        }

    claim_phase = {"units": 200, "throughput_per_s": 60.0, "p95_ms": 9.0}
    return {
        "rows": {
            "one_activity_k1": throughput(1, 200.0),
            "one_activity_k2": throughput(2, 380.0),
            "one_activity_k4": {"error": "TimeoutError: 3 of 2000 workflows closed"},
            "backlog_k2": {
                "kind": "backlog",
                "workers": 2,
                "units": 10_000,
                "throughput_per_s": 400.0,
                "first_close_seconds": 1.25,
                "last_close_seconds": 26.5,
                "p50_ms": 12_000.0,
                "cpu_s_per_1k": 2.0,
                "worker_rss_end_mib": 95.0,
            },
            "claim": {
                "kind": "claim",
                "history_runs": 1_000_000,
                "empty": {**claim_phase, "p50_ms": 5.0},
                "filled": {**claim_phase, "p50_ms": 5.5},
            },
        }
    }


def test_one_row_per_worker_count_then_the_drain_then_the_claims() -> None:
    cells, notes = rows(_entry())
    assert [row[0] for row in cells] == [
        "one activity, K=1",
        "one activity, K=2",
        "backlog drain, K=2",
        "claim, empty",
        "claim, 1,000,000 runs",
    ]
    assert all(len(row) == len(cells[0]) for row in cells)
    k1, k2, drain, empty, filled = cells
    assert k1[1:4] == ["2,000", "200", "1.00x"]
    assert k2[2:4] == ["380", "1.90x"]
    assert k2[4:6] == ["120.0", "300.0"]
    assert k2[8:] == ["2.50", "0.50", "1.2", "90"]
    # The drain: its rate against K=1, the first and last close, no latency (mostly queue
    # wait), no server CPU measured, no commits counted.
    assert drain[1:8] == ["10,000", "400", "2.00x", "—", "—", "1.2", "26.5"]
    assert drain[9:11] == ["n/a", "n/a"]
    assert empty[3] == "—"
    assert filled[3] == "p50 +10%"
    assert filled[4] == "5.5"
    assert notes == ["one_activity_k4: TimeoutError: 3 of 2000 workflows closed"]


def test_without_a_k1_row_there_is_no_speed_up() -> None:
    entry = _entry()
    del entry["rows"]["one_activity_k1"]
    cells, _ = rows(entry)
    assert [row[3] for row in cells[:2]] == ["—", "—"]


def test_one_table_per_executor_and_failures_printed_under_it() -> None:
    doc = {
        "executors": {
            "internal-sqlite": _entry(),
            "temporal": {"error": "set-up failed: RuntimeError: no server"},
        },
        "machine": {"cpus": 2, "load_average": {"before": [1.5], "after": [2.0]}},
    }
    out = io.StringIO()
    render(doc, Console(file=out, width=220, highlight=False))
    text = out.getvalue()
    assert "scaling: internal-sqlite" in text
    assert "backlog drain, K=2" in text
    assert "internal-sqlite / one_activity_k4: TimeoutError" in text
    assert "temporal: set-up failed" in text
    assert "scaling: temporal" not in text
    assert "load average 1.50 before" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "'0' is not a worker count"),
        (["--workers", "1,1"], "worker count 1 given twice"),
        (["--backlog-workers", "x"], "'x' is not a worker count"),
        (["--executors", "nope"], "unknown executor nope"),
        (["--backlog", "0"], "--backlog"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["scaling", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_tiny_scaling_run_fills_every_row(tmp_path: Path) -> None:
    output = tmp_path / "scaling.json"
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("TURNOUT_EXECUTOR", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "scaling",
            "--executors",
            "internal-sqlite",
            "--workers",
            "1,2",
            "--n",
            "4",
            "--backlog",
            "10",
            "--claim-runs",
            "1000",
            "--scale",
            "0.01",
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
    doc = json.loads(output.read_text())
    assert doc["kind"] == "scaling"
    results = doc["executors"]["internal-sqlite"]["rows"]
    assert list(results) == ["one_activity_k1", "one_activity_k2", "backlog_k2", "claim"]
    for key in ("one_activity_k1", "one_activity_k2", "backlog_k2"):
        assert "error" not in results[key], results[key].get("traceback")
        assert results[key]["completed"] == results[key]["units"], key
    assert [results[k]["worker_processes"] for k in results if k != "claim"] == [1, 2, 2]
    backlog = results["backlog_k2"]
    assert backlog["units"] == 10
    assert 0 < backlog["first_close_seconds"] <= backlog["last_close_seconds"]
    assert results["claim"]["history_runs"] == 1000
    assert "scaling: internal-sqlite" in done.stdout
    assert "backlog drain, K=2" in done.stdout
