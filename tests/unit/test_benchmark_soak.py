"""``python -m benchmarks soak``: its sampling times, its verdicts, its table, its argument
checks, and its load driver on a fake client (no executor, no worker process). Memory is
never asserted."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from benchmarks import soak
from benchmarks.__main__ import cli
from benchmarks.soak import (
    Counters,
    SoakConfig,
    default_output,
    render,
    rows,
    sample_times,
    verdict_lines,
    verdicts,
)
from click.testing import CliRunner
from rich.console import Console


def test_samples_are_taken_every_interval_from_the_start_and_at_the_very_end() -> None:
    assert sample_times(60, 10) == [0, 10, 20, 30, 40, 50, 60]
    assert sample_times(65, 10) == [0, 10, 20, 30, 40, 50, 60, 65]
    assert sample_times(1.5, 0.5) == [0, 0.5, 1.0, 1.5]
    assert len(sample_times(600, 10)) == 61


def test_the_warm_up_is_at_most_half_the_soak_and_in_flight_follows_the_rate() -> None:
    assert SoakConfig().warmup == 60
    assert SoakConfig(minutes=1).warmup == 30
    assert SoakConfig(minutes=1, warmup_seconds=10).warmup == 10
    assert SoakConfig(rate=200).in_flight == 1000
    assert SoakConfig(rate=2).in_flight == 50
    assert SoakConfig(rate=200, max_in_flight=64).in_flight == 64


def test_a_soak_needs_three_samples_at_least() -> None:
    SoakConfig(minutes=1, sample_seconds=30).check()
    with pytest.raises(ValueError, match="fewer than three samples"):
        SoakConfig(minutes=1, sample_seconds=31).check()


def test_the_backlog_is_what_was_started_and_not_yet_closed() -> None:
    counters = Counters(launched=12, started=10, completed=6, start_failures=2, result_failures=1)
    assert counters.failed == 3
    assert counters.backlog == 3
    counters.note(RuntimeError("first"))
    counters.note(RuntimeError("second"))
    assert counters.first_error == "RuntimeError: first"


def _sample(t: float, completed: int, **rss_mib: float | None) -> dict[str, Any]:
    return {
        "t": t,
        "started": completed + 5,
        "completed": completed,
        "failed": 0,
        "missed": 0,
        "backlog": 5,
        "throughput_per_s": 200.0 if t else None,
        "p50_ms": 42.25 if t else None,
        "rss_mib": rss_mib,
    }


def _samples() -> list[dict[str, Any]]:
    """Ten minutes, a sample a minute: worker-0 ramps up then stays; worker-1 leaks 3 MiB
    a minute; the client grows 4 MiB (under 20 MiB) from a small base (over 5%)."""
    out = []
    for minute in range(11):
        out.append(
            _sample(
                minute * 60.0,
                minute * 12_000,
                **{
                    "worker-0": 60.0 if minute == 0 else 100.0 + (minute % 2) * 0.5,
                    "worker-1": 100.0 + 3 * minute,
                    "client": 40.0 + (4.0 if minute == 10 else 0.0),
                },
            )
        )
    return out


def test_memory_is_compared_from_the_end_of_the_warm_up_to_the_end() -> None:
    result = verdicts(_samples(), 60)
    flat, leak, client = result["worker-0"], result["worker-1"], result["client"]
    # The ramp during the first minute (60 -> 100 MiB) is left out.
    assert flat["base_t"] == 60
    assert flat["end_t"] == 600
    assert flat["base_mib"] == 100.5
    assert flat["end_mib"] == 100.0
    assert flat["growth_mib"] == pytest.approx(-0.5)
    assert flat["peak_mib"] == 100.5
    assert flat["verdict"] == "flat"
    assert leak["base_mib"] == 103
    assert leak["end_mib"] == 130
    assert leak["growth_mib"] == pytest.approx(27)
    assert leak["growth_pct"] == pytest.approx(27 / 103 * 100)
    assert leak["mib_per_min"] == pytest.approx(3)
    assert leak["pct_per_min"] == pytest.approx(27 / 103 * 100 / 9)
    assert leak["verdict"] == "growing"
    # 4 MiB is under 20 MiB but 10% is not under 5%: both must hold to be flat.
    assert client["growth_pct"] == pytest.approx(10)
    assert client["verdict"] == "growing"
    assert verdicts(_samples(), 60, flat_pct=15)["client"]["verdict"] == "flat"
    assert verdicts(_samples(), 60, flat_mib=1)["worker-0"]["verdict"] == "flat"


def test_the_baseline_is_the_first_sample_at_or_after_the_warm_up() -> None:
    assert verdicts(_samples(), 61)["worker-1"]["base_t"] == 120
    assert verdicts(_samples(), 0)["worker-1"]["base_t"] == 0


def test_without_a_later_sample_or_a_live_process_there_is_no_verdict() -> None:
    late = verdicts(_samples(), 600)["worker-1"]
    assert late["verdict"] == "n/a"
    assert late["growth_mib"] is None
    gone = _samples()
    gone[-1]["rss_mib"]["worker-1"] = None
    result = verdicts(gone, 60)["worker-1"]
    assert result["verdict"] == "n/a"
    assert result["peak_mib"] == 127
    assert verdicts([], 60) == {}


def _entry() -> dict[str, Any]:
    samples = _samples()
    return {
        "samples": samples,
        "totals": {
            "completed": 120_000,
            "throughput_per_s": 200.0,
            "offered_per_s": 200.0,
            "failed": 2,
            "missed": 0,
            "max_backlog": 31,
            "unfinished": 0,
            "first_error": "TimeoutError: [no] worker",
            "cpu_s_per_1k": {"client": 1.5, "workers": 2.25},
        },
        "verdicts": verdicts(samples, 60),
    }


def test_one_row_per_sample_with_every_process_in_its_own_column() -> None:
    headers, cells = rows(_entry())
    assert headers == [
        "time",
        "completed",
        "wf/s",
        "backlog",
        "p50 ms",
        "worker-0 MiB",
        "worker-1 MiB",
        "client MiB",
    ]
    assert len(cells) == 11
    assert cells[0] == ["0:00", "0", "—", "5", "—", "60.0", "100.0", "40.0"]
    assert cells[-1] == ["10:00", "120,000", "200", "5", "42.2", "100.0", "130.0", "44.0"]
    assert rows({}) == (["time", "completed", "wf/s", "backlog", "p50 ms"], [])


def test_under_the_table_the_totals_the_threshold_and_a_verdict_per_process() -> None:
    config = {"warmup": 60.0, "flat_pct": 5.0, "flat_mib": 20.0}
    lines = verdict_lines(_entry(), config)
    assert lines[0].startswith("120,000 completed at 200 wf/s (offered 200/s), 2 failed")
    assert lines[0].endswith("CPU s/1k wf: client 1.50, workers 2.25")
    assert lines[1] == "first error: TimeoutError: [no] worker"
    assert "(1:00)" in lines[2]
    assert "less than 5% and less than 20 MiB" in lines[2]
    assert lines[3].startswith("  worker-0: 100.5 MiB at 1:00 → 100.0 MiB at 10:00: -0.5 MiB")
    assert lines[3].endswith(": flat")
    assert "+27.0 MiB (+26.2%), +3.00 MiB/min" in lines[4]
    assert lines[4].endswith(": growing")
    assert lines[5].startswith("  client:")
    assert lines[5].endswith(": growing")


def test_one_table_per_executor_and_failures_printed_as_they_are() -> None:
    doc = {
        "config": {"warmup": 60.0, "flat_pct": 5.0, "flat_mib": 20.0},
        "executors": {
            "internal-sqlite": _entry(),
            "internal-postgres": {"error": "RuntimeError: [initdb] not found"},
        },
        "machine": {"cpus": 2, "load_average": {"before": [1.5], "after": [2.0]}},
    }
    out = io.StringIO()
    render(doc, Console(file=out, width=220, highlight=False))
    text = out.getvalue()
    assert "soak: internal-sqlite" in text
    assert "worker-1 MiB" in text
    assert "first error: TimeoutError: [no] worker" in text
    assert "internal-postgres: RuntimeError: [initdb] not found" in text
    assert "soak: internal-postgres" not in text
    assert "load average 1.50 before" in text


def test_results_go_to_the_results_folder_under_a_name_of_their_own() -> None:
    path = default_output(datetime(2026, 12, 7, 3, 4, 5, tzinfo=UTC))
    assert path.parent.name == "results"
    assert path.name == "soak-20261207T030405Z.json"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--minutes", "1", "--sample-seconds", "40"], "fewer than three samples"),
        (["--rate", "0"], "--rate"),
        (["--minutes", "-1"], "--minutes"),
        (["--max-in-flight", "0"], "--max-in-flight"),
        (["--executors", "nope"], "unknown executor nope"),
        (["--executors", "dbos"], "unknown executor dbos"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["soak", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_the_command_line_becomes_the_config_and_the_document_is_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[SoakConfig] = []

    async def fake_run(config: SoakConfig, log: Any) -> dict[str, Any]:
        seen.append(config)
        return {"kind": "soak", "config": {"warmup": config.warmup}, "executors": {}}

    monkeypatch.setattr(soak, "run", fake_run)
    output = tmp_path / "soak.json"
    args = ["soak", "--output", str(output)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert seen[0] == SoakConfig(executors=["internal-sqlite", "internal-postgres"])
    assert json.loads(output.read_text())["kind"] == "soak"
    more = ["--executors", "internal-postgres", "--minutes", "2", "--rate", "75"]
    more += ["--sample-seconds", "5", "--worker-processes", "3", "--max-in-flight", "100"]
    result = CliRunner().invoke(cli, [*args, *more])
    assert result.exit_code == 0, result.output
    config = seen[1]
    assert config.executors == ["internal-postgres"]
    assert (config.minutes, config.rate, config.sample_seconds) == (2, 75, 5)
    assert (config.worker_processes, config.in_flight, config.warmup) == (3, 100, 60)


class _FakeHandle:
    def __init__(self, client: _FakeClient, workflow_id: str) -> None:
        self.client = client
        self.id = workflow_id

    async def result(self) -> int:
        self.client.open += 1
        self.client.most_open = max(self.client.most_open, self.client.open)
        try:
            await asyncio.sleep(self.client.seconds)
        finally:
            self.client.open -= 1
        if self.id.endswith("-s-7"):
            raise RuntimeError("workflow 7 failed")
        return 1


class _FakeClient:
    """Starts nothing: each result arrives ``seconds`` after it is awaited."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.open = 0
        self.most_open = 0

    async def start_workflow(self, workflow: Any, arg: Any, *, id: str, task_queue: str) -> Any:
        return _FakeHandle(self, id)


class _FakeTarget:
    """A target without servers or worker processes, for the load driver alone."""

    name = "fake"

    def __init__(self, client: _FakeClient) -> None:
        self.client = client

    def server_pids(self) -> list[int]:
        return []

    @contextlib.asynccontextmanager
    async def session(self, workload: str, *, workers: int) -> AsyncIterator[Any]:
        yield SimpleNamespace(
            target=self,
            client=self.client,
            task_queue="q",
            token="t",
            workers=[],
            worker_pids=[],
        )


async def test_the_load_keeps_its_rate_samples_as_it_goes_and_drains_at_the_end() -> None:
    config = SoakConfig(minutes=0.02, rate=100, sample_seconds=0.3)
    client = _FakeClient(0.05)
    result = await soak.soak(_FakeTarget(client), config, lambda line: None)
    totals = result["totals"]
    assert 60 <= totals["launched"] <= 121  # about 100/s for 1.2 s, on a busy machine
    assert totals["completed_after_drain"] + totals["failed"] == totals["launched"]
    assert totals["failed"] == 1
    assert totals["first_error"] == "RuntimeError: workflow 7 failed"
    assert totals["unfinished"] == 0
    assert [s["t"] for s in result["samples"]] == pytest.approx(sample_times(1.2, 0.3), abs=0.25)
    assert list(result["verdicts"]) == ["client"]
    assert client.open == 0


async def test_no_more_than_the_bound_is_in_flight_and_late_starts_are_dropped() -> None:
    config = SoakConfig(minutes=0.04, rate=100, sample_seconds=0.6, max_in_flight=3)
    client = _FakeClient(0.2)
    result = await soak.soak(_FakeTarget(client), config, lambda line: None)
    assert client.most_open <= 3
    assert max(s["backlog"] for s in result["samples"]) <= 3
    assert result["totals"]["missed"] > 0
