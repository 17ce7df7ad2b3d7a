"""``python -m benchmarks scaling``: how one executor scales with its worker processes.

For every executor, one after the other, it measures:

- one-activity throughput with each worker count ``K`` of ``--workers`` (the
  ``one_activity`` workload, a fresh session per ``K``);
- a backlog drain: ``--backlog`` one-activity workflows are started while no
  worker runs, so they all wait queued; then ``K`` workers start and the drain
  is measured from the close times the executor recorded (``backlog``);
- claim latency on an empty history and with ``--claim-runs`` finished runs
  (:func:`benchmarks.history.claim_benchmark`, internal executors only).

:func:`render` prints one table per executor; the document is written as JSON
like ``run``'s. See benchmarks/README.md ("Scaling") for what each row measures.
"""

from __future__ import annotations

import math
import os
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.flows import OneActivity
from benchmarks.metrics import latency_summary
from benchmarks.report import RESULTS_DIR
from benchmarks.runner import machine, revision
from benchmarks.targets import Target, make_target
from benchmarks.workloads import (
    FULL_SIZES,
    MIN_SIZES,
    START_CONCURRENCY,
    Options,
    one_activity,
    start_many,
)

__all__ = [
    "DEFAULT_EXECUTORS",
    "FULL_BACKLOG",
    "ScalingConfig",
    "backlog",
    "default_output",
    "parse_counts",
    "render",
    "rows",
    "run",
    "sizes",
]

DEFAULT_EXECUTORS = ("internal-sqlite", "internal-postgres")
DEFAULT_WORKERS = (1, 2, 4)
FULL_BACKLOG = 10_000
"""One-activity workflows queued before the workers of the backlog drain start."""
MIN_BACKLOG = 10


def parse_counts(value: str) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]``: distinct positive worker counts, in the given order."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        raise ValueError("give at least one worker count")
    counts: list[int] = []
    for part in parts:
        if not part.isdigit() or int(part) < 1:
            raise ValueError(f"{part!r} is not a worker count (a whole number, at least 1)")
        if int(part) in counts:
            raise ValueError(f"worker count {int(part)} given twice")
        counts.append(int(part))
    return counts


def sizes(
    scale: float = 1.0,
    *,
    n: int | None = None,
    backlog: int | None = None,
    claim_runs: int | None = None,
) -> dict[str, int]:
    """The workflows per throughput row (``n``), the backlog and the claim history size:
    full size times ``scale`` (never below a minimum) unless given. ``claim_runs`` 0 skips
    the claim rows."""

    def scaled(full: int, least: int) -> int:
        return max(least, round(full * scale))

    return {
        "n": n if n is not None else scaled(FULL_SIZES["one_activity"], MIN_SIZES["one_activity"]),
        "backlog": backlog if backlog is not None else scaled(FULL_BACKLOG, MIN_BACKLOG),
        "claim_runs": claim_runs
        if claim_runs is not None
        else scaled(FULL_SIZES["claim"], MIN_SIZES["claim"]),
    }


@dataclass(frozen=True)
class ScalingConfig:
    """Everything one scaling run is told on the command line."""

    executors: Sequence[str] = DEFAULT_EXECUTORS
    workers: Sequence[int] = DEFAULT_WORKERS
    """Worker processes of each one-activity throughput row."""
    backlog_workers: Sequence[int] = ()
    """Worker processes of each backlog drain row (none given: the largest of ``workers``)."""
    sizes: dict[str, int] = field(default_factory=sizes)
    scale: float = 1.0
    """Also sets the claim rounds (see :func:`benchmarks.history.claim_benchmark`)."""
    database_url: str | None = None
    temporal_address: str | None = None
    pg_durable: bool = False
    timeout: float = 600.0
    start_concurrency: int = START_CONCURRENCY

    @property
    def drain_workers(self) -> list[int]:
        """The worker counts of the backlog drain rows."""
        return list(self.backlog_workers or [max(self.workers)])


async def backlog(target: Target, count: int, options: Options, *, workers: int) -> dict[str, Any]:
    """Start ``count`` one-activity workflows with no worker running, then start
    ``workers`` worker processes and measure the drain from the recorded close times.

    There is no warm-up: the workers start cold, as after a deployment or an outage.
    CPU and memory are measured from the moment every worker polls; the workers that
    poll first may have closed runs before that, so CPU is divided by the runs closed
    after it (``cpu_units``).
    """
    async with target.session("backlog", workers=0) as session:
        prefix = f"{session.token}-b-"
        ids = [f"{prefix}{i}" for i in range(count)]
        clock = time.perf_counter()
        await start_many(session, OneActivity.run, ids, 1, options.start_concurrency)
        fill_seconds = time.perf_counter() - clock
        launched = datetime.now(UTC)
        clock = time.perf_counter()
        await session.start_workers(workers)
        ready_seconds = time.perf_counter() - clock
        session.mark_start()
        await session.wait_closed(prefix, count, options.timeout)
        observed_seconds = time.perf_counter() - clock
        session.units_total += count
        await session.mark_end(count)
        times = await session.run_times(prefix, count)
    stats = session.stats()
    closes = sorted(t.closed_at for t in times if t.closed_at is not None)
    ready_at = launched + timedelta(seconds=ready_seconds)
    cpu_units = sum(1 for closed_at in closes if closed_at >= ready_at)
    for key in ("cpu_s_per_1k", "server_cpu_s_per_1k"):
        if stats.get(key) is not None:
            stats[key] = stats[key] * count / cpu_units if cpu_units else None
    completed = sum(1 for t in times if t.closed_at is not None and t.state == "completed")
    first, last = (closes[0], closes[-1]) if closes else (None, None)
    drain = (last - first).total_seconds() if first and last else None
    waits = [(t.closed_at - t.requested_at).total_seconds() for t in times if t.closed_at]
    return {
        "kind": "backlog",
        "units": count,
        "workers": workers,
        "completed": completed,
        "failed": len(closes) - completed,
        "missing": count - len(closes),
        "fill_seconds": fill_seconds,
        "fill_per_s": count / fill_seconds if fill_seconds > 0 else None,
        "workers_ready_seconds": ready_seconds,
        "first_close_seconds": (first - launched).total_seconds() if first else None,
        "last_close_seconds": (last - launched).total_seconds() if last else None,
        "drain_seconds": drain,
        "throughput_per_s": completed / drain if drain else None,
        "observed_seconds": observed_seconds,
        **latency_summary(waits),
        **stats,
        "cpu_units": cpu_units,
    }


async def _throughput_row(
    target: Target, config: ScalingConfig, options: Options, workers: int
) -> dict[str, Any]:
    result = await one_activity(target, config.sizes["n"], options, workers=workers)
    return {**result, "workers": workers}


async def _claim_row(target: Target, config: ScalingConfig, options: Options) -> dict[str, Any]:
    if not target.internal:
        return {"kind": "claim", "skipped": "internal executors only"}
    from benchmarks.history import claim_benchmark

    return await claim_benchmark(
        target, config.sizes["claim_runs"], options.timeout, scale=config.scale
    )


def _steps(config: ScalingConfig) -> list[tuple[str, Callable[..., Awaitable[dict[str, Any]]]]]:
    """Each row's key in the result document and the call that measures it."""
    steps: list[tuple[str, Callable[..., Awaitable[dict[str, Any]]]]] = []
    for k in config.workers:
        steps.append((f"one_activity_k{k}", lambda t, o, k=k: _throughput_row(t, config, o, k)))
    for k in config.drain_workers:
        steps.append(
            (f"backlog_k{k}", lambda t, o, k=k: backlog(t, config.sizes["backlog"], o, workers=k))
        )
    if config.sizes["claim_runs"]:
        steps.append(("claim", lambda t, o: _claim_row(t, config, o)))
    return steps


async def run(config: ScalingConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every row on every executor, one executor after the other; the result
    document (a row that fails records its error and the run goes on)."""
    began = datetime.now(UTC)
    load_before = os.getloadavg()
    options = Options(
        timeout=config.timeout, scale=config.scale, start_concurrency=config.start_concurrency
    )
    executors: dict[str, Any] = {}
    for name in config.executors:
        target = make_target(
            name,
            worker_processes=max(config.workers),
            database_url=config.database_url,
            temporal_address=config.temporal_address,
            pg_durable=config.pg_durable,
        )
        entry: dict[str, Any] = {"rows": {}}
        executors[name] = entry
        log(f"[bold]{name}[/bold]: starting")
        clock = time.perf_counter()
        try:
            await target.setup()
        except Exception as exc:
            entry["error"] = f"set-up failed: {type(exc).__name__}: {exc}"
            log(f"[red]{name}: {entry['error']}[/red]")
            await target.teardown()
            continue
        entry["setup_seconds"] = time.perf_counter() - clock
        entry["info"] = target.describe()
        try:
            for key, measure in _steps(config):
                log(f"{name}: {key}")
                clock = time.perf_counter()
                try:
                    result = await measure(target, options)
                except Exception as exc:
                    result = {
                        "error": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc(),
                    }
                    log(f"[red]{name}: {key} failed: {result['error']}[/red]")
                result["wall_seconds"] = time.perf_counter() - clock
                entry["rows"][key] = result
        finally:
            await target.teardown()
    settings = {k: v for k, v in asdict(config).items() if k != "database_url"}
    return {
        "version": 1,
        "kind": "scaling",
        "revision": revision(),
        "started_at": began.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": machine() | {"load_average": {"before": load_before, "after": os.getloadavg()}},
        "config": settings
        | {"drain_workers": config.drain_workers, "database_url_given": bool(config.database_url)},
        "executors": executors,
    }


def default_output(now: datetime) -> Path:
    """``benchmarks/results/scaling-<UTC timestamp>.json``."""
    return RESULTS_DIR / f"scaling-{now.strftime('%Y%m%dT%H%M%SZ')}.json"


COLUMNS = (
    "row",
    "n",
    "wf/s",
    "vs K=1",
    "p50 ms",
    "p95 ms",
    "first close s",
    "last close s",
    "CPU s/1k wf",
    "server CPU s/1k",
    "commits/wf",
    "RSS/worker MiB",
)


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _rate(value: Any) -> str:
    return _num(value, 0 if isinstance(value, float) and value >= 100 else 1)


def _times(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}x" if value is not None and base else "—"


def _latency(result: dict[str, Any]) -> list[str]:
    return [_num(result.get("p50_ms")), _num(result.get("p95_ms"))]


def _measured(result: dict[str, Any]) -> list[str]:
    """The CPU, commit and memory cells."""
    commits = result.get("commits_per_unit")
    return [
        _num(result.get("cpu_s_per_1k"), 2),
        _num(result.get("server_cpu_s_per_1k"), 2) if "cpu_server_s" in result else "n/a",
        _num(commits) if commits is not None else "n/a",
        _num(result.get("worker_rss_end_mib"), 0),
    ]


def rows(entry: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """The table cells of one executor's entry (see :data:`COLUMNS`), and its notes:
    the rows that failed."""
    results: dict[str, Any] = entry.get("rows", {})
    notes = [f"{key}: {r['error']}" for key, r in results.items() if r.get("error")]
    ok = {key: r for key, r in results.items() if not r.get("error") and not r.get("skipped")}
    base = ok.get("one_activity_k1", {}).get("throughput_per_s")
    cells: list[list[str]] = []
    for result in ok.values():
        kind = result.get("kind")
        if kind == "claim":
            empty = result["empty"]["p50_ms"]
            runs = result.get("history_runs", 0)
            for phase, label in (("empty", "claim, empty"), ("filled", f"claim, {runs:,} runs")):
                phase_result = result[phase]
                change = "—"
                if phase == "filled" and empty:
                    change = f"p50 {phase_result['p50_ms'] / empty - 1:+.0%}"
                rate = _rate(phase_result.get("throughput_per_s"))
                units = _num(phase_result.get("units"))
                dashes = ["—"] * 6
                cells.append([label, units, rate, change, *_latency(phase_result), *dashes])
            continue
        rate = result.get("throughput_per_s")
        workers = result.get("workers")
        if kind == "backlog":
            label = f"backlog drain, K={workers}"
            first, last = result.get("first_close_seconds"), result.get("last_close_seconds")
            latency = ["—", "—"]  # every run's latency is mostly its wait in the backlog
        else:
            label = f"one activity, K={workers}"
            first, last = None, result.get("seconds")
            latency = _latency(result)
        cells.append(
            [
                label,
                _num(result.get("units")),
                _rate(rate),
                _times(rate, base),
                *latency,
                _num(first),
                _num(last),
                *_measured(result),
            ]
        )
    return cells, notes


def render(doc: dict[str, Any], console: Console) -> None:
    """Print one table per executor, the machine's load, and the rows that failed."""
    for executor, entry in doc.get("executors", {}).items():
        if entry.get("error"):
            console.print(f"[red]error[/red] {executor}: {entry['error']}")
            continue
        table = Table(title=f"scaling: {executor}", title_justify="left")
        for header in COLUMNS:
            table.add_column(header, justify="left" if header == "row" else "right")
        cells, notes = rows(entry)
        for row in cells:
            table.add_row(*row)
        console.print(table)
        for note in notes:
            console.print(f"[red]error[/red] {executor} / {note}")
    load = doc.get("machine", {}).get("load_average")
    if load:
        before, after = load["before"][0], load["after"][0]
        console.print(
            f"{doc['machine'].get('cpus')} CPUs; load average {before:.2f} before the run, "
            f"{after:.2f} after (other work on the machine skews the figures)"
        )
