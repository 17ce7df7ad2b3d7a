"""The printed tables (rich) and the JSON result file.

:func:`finish` adds the targets and the ratios between executors to a result
document, :func:`render` prints it, :func:`write` saves it. Targets are
informational: a target not met is reported, never an error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["RESULTS_DIR", "default_output", "finish", "render", "times_better", "write"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"

PG, SQLITE, TEMPORAL = "internal-postgres", "internal-sqlite", "temporal"
DBOS, PROCRASTINATE = "dbos", "procrastinate"
"""Peers measured in the same run when chosen (``--executors ...,dbos,procrastinate``)."""
THROUGHPUT_WORKLOADS = ("one_activity", "sequential", "fan_out")
LATENCY_WORKLOADS = ("signal", "idle")

_LABELS = {
    "one_activity": "one activity",
    "sequential": "10 sequential",
    "fan_out": "fan-out 50",
    "signal": "signal round trip",
    "idle": "idle pick-up",
}


def default_output(now: datetime) -> Path:
    """``benchmarks/results/<UTC timestamp>.json``."""
    return RESULTS_DIR / f"{now.strftime('%Y%m%dT%H%M%SZ')}.json"


def _get(doc: dict[str, Any], executor: str, workload: str, *keys: str) -> Any:
    value: Any = doc.get("executors", {}).get(executor, {}).get("workloads", {}).get(workload)
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@dataclass(frozen=True)
class _Target:
    name: str
    executor: str
    target: str
    measure: Callable[[dict[str, Any]], float | None]
    check: Callable[[float], bool]
    shown: Callable[[float], str]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def times_better(doc: dict[str, Any], first: str, second: str, workload: str) -> float | None:
    """How many times better ``first`` did than ``second`` on ``workload`` in this run:
    throughput first ÷ second for the throughput workloads, p50 latency second ÷ first
    for the others; None when either figure is missing."""
    if workload in THROUGHPUT_WORKLOADS:
        key = "throughput_per_s"
        return _ratio(_get(doc, first, workload, key), _get(doc, second, workload, key))
    return _ratio(_get(doc, second, workload, "p50_ms"), _get(doc, first, workload, "p50_ms"))


def _growth(doc: dict[str, Any], executor: str) -> float | None:
    """Worker RSS growth over the second half of ``one_activity``: steady load, once the
    connection pools and the database's page caches have filled (they grow over the
    first half and then stay)."""
    start = _get(doc, executor, "one_activity", "worker_rss_mid_mib")
    end = _get(doc, executor, "one_activity", "worker_rss_end_mib")
    return (end - start) / start if start and end is not None else None


def _targets() -> list[_Target]:
    def wfs(x: float) -> str:
        return f"{x:,.0f} wf/s"

    def ms(x: float) -> str:
        return f"{x:.1f} ms"

    def pct(x: float) -> str:
        return f"{x:+.0%}"

    targets = [
        _Target(
            "one-activity throughput (2 worker processes)",
            PG,
            ">= 1,000 wf/s",
            lambda d: _get(d, PG, "one_activity", "throughput_per_s"),
            lambda x: x >= 1000,
            wfs,
        ),
        _versus(DBOS, "DBOS", 10),
        _versus(TEMPORAL, "Temporal", 20),
        _Target(
            "one-activity throughput",
            SQLITE,
            ">= 600 wf/s",
            lambda d: _get(d, SQLITE, "one_activity", "throughput_per_s"),
            lambda x: x >= 600,
            wfs,
        ),
        _Target(
            "idle pick-up p50",
            PG,
            "< 10 ms",
            lambda d: _get(d, PG, "idle", "p50_ms"),
            lambda x: x < 10,
            ms,
        ),
        _Target(
            "idle pick-up p50",
            SQLITE,
            "< 15 ms",
            lambda d: _get(d, SQLITE, "idle", "p50_ms"),
            lambda x: x < 15,
            ms,
        ),
    ]
    for executor in (PG, SQLITE):
        targets += _per_internal_executor(executor, pct)
    return targets


def _versus(other: str, label: str, factor: float) -> _Target:
    """``internal-postgres`` one-activity throughput at least ``factor`` times ``other``'s
    in the same run."""
    return _Target(
        f"one-activity throughput vs {label}",
        PG,
        f">= {factor:g}x {other}",
        lambda d: times_better(d, PG, other, "one_activity"),
        lambda x: x >= factor,
        lambda x: f"{x:.1f}x",
    )


def _per_internal_executor(executor: str, pct: Callable[[float], str]) -> list[_Target]:
    def claim_ratio(doc: dict[str, Any]) -> float | None:
        ratio: float | None = _get(doc, executor, "claim", "p50_ratio")
        return ratio

    def growth(doc: dict[str, Any]) -> float | None:
        return _growth(doc, executor)

    def cpu_per_workflow(doc: dict[str, Any]) -> float | None:
        """Milliseconds of CPU per one-activity workflow: client, workers and database."""
        own = _get(doc, executor, "one_activity", "cpu_s_per_1k")
        server = _get(doc, executor, "one_activity", "server_cpu_s_per_1k")
        if own is None or (executor == PG and server is None):
            return None
        return float(own + (server or 0))

    return [
        _Target(
            "signal round trip p50",
            executor,
            "< 15 ms",
            lambda d: _get(d, executor, "signal", "p50_ms"),
            lambda x: x < 15,
            lambda x: f"{x:.1f} ms",
        ),
        _Target(
            "CPU per one-activity workflow (all processes)",
            executor,
            "<= 2 ms",
            cpu_per_workflow,
            lambda x: x <= 2.0,
            lambda x: f"{x:.2f} ms",
        ),
        _Target(
            "claim p50, full history vs empty",
            executor,
            "within +20%",
            claim_ratio,
            lambda x: x <= 1.2,
            lambda x: pct(x - 1),
        ),
        _Target(
            "worker RSS growth, 2nd half of one-activity",
            executor,
            "flat (<= +10%)",
            growth,
            lambda x: x <= 0.10,
            pct,
        ),
    ]


def _ratios(doc: dict[str, Any]) -> list[dict[str, Any]]:
    pairs = [(PG, TEMPORAL), (SQLITE, TEMPORAL), (PG, SQLITE)]
    # The peers get columns only when they ran: "turnout's PostgreSQL executor vs the peer".
    pairs += [(PG, peer) for peer in (DBOS, PROCRASTINATE) if peer in doc.get("executors", {})]
    rows = []
    for workload in (*THROUGHPUT_WORKLOADS, *LATENCY_WORKLOADS):
        throughput = workload in THROUGHPUT_WORKLOADS
        row: dict[str, Any] = {
            "workload": workload,
            "metric": "throughput" if throughput else "p50 latency, other / this",
        }
        for a, b in pairs:
            row[f"{a} / {b}"] = times_better(doc, a, b, workload)
        rows.append(row)
    return rows


def finish(doc: dict[str, Any]) -> dict[str, Any]:
    """Add ``targets`` and ``ratios`` to a result document (and return it)."""
    evaluated = []
    for target in _targets():
        if target.executor not in doc.get("executors", {}):
            continue
        value = target.measure(doc)
        evaluated.append(
            {
                "name": target.name,
                "executor": target.executor,
                "target": target.target,
                "value": value,
                "measured": target.shown(value) if value is not None else "n/a",
                "met": target.check(value) if value is not None else None,
            }
        )
    doc["targets"] = evaluated
    doc["ratios"] = _ratios(doc)
    return doc


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _rss(result: dict[str, Any]) -> str:
    start, end = result.get("worker_rss_start_mib"), result.get("worker_rss_end_mib")
    if start is None or end is None:
        return "—"
    return f"{start:,.0f} → {end:,.0f}"


def _row(executor: str, label: str, result: dict[str, Any], internal: bool) -> list[str]:
    throughput = result.get("throughput_per_s") if result.get("kind") != "latency" else None
    commits = result.get("commits_per_unit")
    return [
        executor,
        label,
        _num(result.get("units")),
        _num(throughput, 0 if (throughput or 0) >= 100 else 1),
        _num(result.get("p50_ms")),
        _num(result.get("p95_ms")),
        _num(result.get("p99_ms")),
        _num(commits) if commits is not None else "n/a",
        _num(result.get("cpu_s_per_1k"), 2),
        _num(result.get("server_cpu_s_per_1k"), 2)
        if result.get("cpu_server_s") is not None
        else "n/a",
        _num(result.get("worker_peak_rss_mib"), 0),
        _rss(result),
    ]


def _results_table(doc: dict[str, Any]) -> tuple[Table, list[str]]:
    table = Table(title="turnout benchmark", title_justify="left")
    for header, justify, wrap in [
        ("executor", "left", False),
        ("workload", "left", False),
        ("n", "right", True),
        ("wf/s", "right", True),
        ("p50 ms", "right", True),
        ("p95 ms", "right", True),
        ("p99 ms", "right", True),
        ("commits/wf", "right", True),
        ("CPU s/1k wf", "right", True),
        ("server CPU s/1k", "right", True),
        ("peak RSS MiB", "right", True),
        ("RSS/worker MiB start → end", "right", True),
    ]:
        table.add_column(header, justify=justify, no_wrap=not wrap)  # type: ignore[arg-type]
    notes: list[str] = []
    for executor, entry in doc.get("executors", {}).items():
        if entry.get("error"):
            notes.append(f"{executor}: {entry['error']}")
            continue
        internal = entry.get("info", {}).get("executor") == "internal"
        for workload, result in entry.get("workloads", {}).items():
            if result.get("error"):
                notes.append(f"{executor} / {workload}: {result['error']}")
                continue
            if result.get("skipped"):
                continue
            if result.get("kind") == "claim":
                runs = result.get("history_runs", 0)
                phases = (("empty", "claim, empty"), ("filled", f"claim, {runs:,} runs"))
                for phase, label in phases:
                    table.add_row(*_row(executor, label, result[phase], internal))
                continue
            table.add_row(*_row(executor, _LABELS.get(workload, workload), result, internal))
        table.add_section()
    return table, notes


def _executor_notes(doc: dict[str, Any]) -> list[str]:
    """What a peer is (its ``note``), and the workloads an executor skipped and why."""
    lines = []
    for executor, entry in doc.get("executors", {}).items():
        info = entry.get("info", {})
        if info.get("note"):
            lines.append(escape(f"{executor} ({info.get('sdk', '?')}): {info['note']}"))
        for workload, result in entry.get("workloads", {}).items():
            if result.get("skipped"):
                lines.append(escape(f"{executor} / {workload}: skipped, {result['skipped']}"))
    return lines


def _targets_table(doc: dict[str, Any]) -> Table:
    table = Table(title="targets (informational)", title_justify="left")
    for header in ("target", "executor", "measured", "target value", "met / not met"):
        table.add_column(header)
    for t in doc.get("targets", []):
        met = t["met"]
        verdict = "n/a" if met is None else "[green]met[/green]" if met else "[red]not met[/red]"
        table.add_row(t["name"], t["executor"], t["measured"], t["target"], verdict)
    return table


def _ratios_table(doc: dict[str, Any]) -> Table:
    table = Table(
        title="ratios between executors (how many times better the first is; >1: first wins)",
        title_justify="left",
    )
    rows = doc.get("ratios", [])
    columns = [key for key in (rows[0] if rows else {}) if key not in {"workload", "metric"}]
    table.add_column("workload")
    table.add_column("compared on")
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        values = [f"{row[c]:.2f}x" if row[c] is not None else "—" for c in columns]
        metric = "throughput" if row["workload"] in THROUGHPUT_WORKLOADS else "p50 latency"
        table.add_row(_LABELS.get(row["workload"], row["workload"]), metric, *values)
    return table


def render(doc: dict[str, Any], console: Console) -> None:
    """Print the results, targets and ratios tables."""
    table, notes = _results_table(doc)
    console.print(table)
    load = doc.get("machine", {}).get("load_average")
    if load:
        before, after = load["before"][0], load["after"][0]
        console.print(
            f"{doc['machine'].get('cpus')} CPUs; load average {before:.2f} before the run, "
            f"{after:.2f} after (other work on the machine skews the figures); event loop "
            f"{doc['machine'].get('event_loop', 'asyncio')} (TURNOUT_EVENT_LOOP)"
        )
    wakeup = doc.get("machine", {}).get("wakeup")
    if wakeup:
        console.print(
            f"waking an idle process: {wakeup['idle_ms']:.3f} ms after {wakeup['gap_s']} s "
            f"asleep, {wakeup['busy_ms']:.3f} ms back to back (benchmarks/wakeup.py)"
        )
    if wakeup and "page_idle_us" in wakeup:
        console.print(
            f"touching a page of memory: {wakeup['page_idle_us']:.2f} µs after "
            f"{wakeup['gap_s']} s untouched, {wakeup['page_busy_us']:.2f} µs just after "
            "(each page an idle request's path touches, in every process it crosses)"
        )
    for note in notes:
        console.print(f"[red]error[/red] {escape(note)}")
    for line in _executor_notes(doc):
        console.print(line)
    console.print(_targets_table(doc))
    console.print(_ratios_table(doc))


def _clean(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def write(doc: dict[str, Any], path: Path) -> Path:
    """Write the result document as JSON to ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(doc), indent=2, default=str, allow_nan=False) + "\n")
    return path
