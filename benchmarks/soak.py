"""``python -m benchmarks soak``: is memory flat under a steady load?

For every executor in turn, one session (a fresh database or task queue, ``K`` worker
processes) runs one-activity workflows started at a steady rate, each result awaited,
with a bounded number in flight: a steady state, not a growing backlog. Every
``--sample-seconds`` the RSS of each worker and of this (client) process is read with
the counters. :func:`verdicts` compares each process's RSS at the end of the warm-up
with the last: "flat" below :data:`FLAT_PCT` % and :data:`FLAT_MIB` MiB of growth.
Memory is measured and reported, never asserted. See benchmarks/README.md ("Soak").
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmarks.flows import OneActivity
from benchmarks.metrics import MIB, CpuMeter, percentile, rss
from benchmarks.report import RESULTS_DIR
from benchmarks.runner import machine, revision
from benchmarks.session import Session
from benchmarks.targets import Target, make_target
from benchmarks.workloads import START_CONCURRENCY

__all__ = [
    "DEFAULT_EXECUTORS",
    "FLAT_MIB",
    "FLAT_PCT",
    "SoakConfig",
    "default_output",
    "render",
    "rows",
    "run",
    "sample_times",
    "verdict_lines",
    "verdicts",
]

DEFAULT_EXECUTORS = ("internal-sqlite", "internal-postgres")
DEFAULT_RATE = 200.0
"""Workflows started per second: a level two worker processes sustain on a 2-core machine."""
DEFAULT_MINUTES = 10.0
DEFAULT_SAMPLE_SECONDS = 10.0
WARMUP_SECONDS = 60.0
"""Memory at the end of this is the baseline (pools and caches fill while the load ramps up)."""
IN_FLIGHT_SECONDS = 5.0
"""By default, at most this many seconds of the rate are in flight (started, not closed)."""
FLAT_PCT = 5.0
FLAT_MIB = 20.0
"""A process is "flat" when its RSS grew less than both from the warm-up's end to the end."""
DRAIN_TIMEOUT = 60.0
"""Seconds the workflows still in flight at the end may take before they are abandoned."""
BEHIND_LIMIT = 1.0
"""Starts more than this many seconds behind schedule are dropped (counted as missed)."""


@dataclass(frozen=True)
class SoakConfig:
    """Everything one soak is told on the command line."""

    executors: Sequence[str] = DEFAULT_EXECUTORS
    worker_processes: int = 2
    rate: float = DEFAULT_RATE
    """Workflows started per second."""
    minutes: float = DEFAULT_MINUTES
    sample_seconds: float = DEFAULT_SAMPLE_SECONDS
    warmup_seconds: float = WARMUP_SECONDS
    max_in_flight: int | None = None
    """Workflows started and not yet closed, at most (None: :data:`IN_FLIGHT_SECONDS` of
    the rate, at least 50)."""
    start_concurrency: int = START_CONCURRENCY
    database_url: str | None = None
    temporal_address: str | None = None
    pg_durable: bool = False

    @property
    def seconds(self) -> float:
        """The length of the soak in seconds."""
        return self.minutes * 60

    @property
    def warmup(self) -> float:
        """Seconds of warm-up: :attr:`warmup_seconds`, at most half the soak."""
        return min(self.warmup_seconds, self.seconds / 2)

    @property
    def in_flight(self) -> int:
        """The bound on workflows started and not yet closed."""
        if self.max_in_flight is not None:
            return self.max_in_flight
        return max(50, math.ceil(self.rate * IN_FLIGHT_SECONDS))

    def check(self) -> None:
        """Raise ValueError when the samples are too few to compare (three at least)."""
        if self.sample_seconds > self.seconds / 2:
            raise ValueError(
                f"--sample-seconds {self.sample_seconds:g} leaves fewer than three samples in "
                f"{self.minutes:g} minutes"
            )


def sample_times(seconds: float, every: float) -> list[float]:
    """When to sample, in seconds from the first start: 0, ``every``, ... and ``seconds``."""
    count = int(seconds / every + 1e-9)
    times = [round(i * every, 6) for i in range(count + 1)]
    if seconds - times[-1] > 1e-6:
        times.append(seconds)
    return times


@dataclass
class Counters:
    """What the load did so far, in workflows. ``missed``: starts dropped because the load
    fell more than :data:`BEHIND_LIMIT` behind schedule; ``latencies``: start call to
    result, in seconds, since the last sample."""

    launched: int = 0  # start calls issued
    started: int = 0  # start calls that returned
    completed: int = 0
    start_failures: int = 0
    result_failures: int = 0
    missed: int = 0
    first_error: str | None = None
    latencies: list[float] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Start calls and results that raised."""
        return self.start_failures + self.result_failures

    @property
    def backlog(self) -> int:
        """Workflows started and not closed (as far as this process has seen)."""
        return self.started - self.completed - self.result_failures

    def note(self, exc: BaseException) -> None:
        """Keep the first error's message."""
        if self.first_error is None:
            self.first_error = f"{type(exc).__name__}: {exc}"


def _reading(
    t: float, counters: Counters, pids: dict[str, int | None], last: dict[str, Any] | None
) -> dict[str, Any]:
    """One sample: counters, the rate since ``last``, latency, and RSS in MiB per process."""
    memory: dict[str, float | None] = {}
    for name, pid in pids.items():
        value = rss(pid) if pid is not None else None
        memory[name] = value / MIB if value is not None else None
    rate = None
    if last is not None and t > last["t"]:
        rate = (counters.completed - last["completed"]) / (t - last["t"])
    latencies, counters.latencies = counters.latencies, []
    return {
        "t": t,
        "started": counters.started,
        "completed": counters.completed,
        "failed": counters.failed,
        "missed": counters.missed,
        "backlog": counters.backlog,
        "throughput_per_s": rate,
        "p50_ms": percentile(latencies, 50) * 1000 if latencies else None,
        "rss_mib": memory,
    }


async def _offer(
    session: Session, config: SoakConfig, counters: Counters, began: float, tasks: set[Any]
) -> None:
    """Start workflows at ``config.rate`` per second until the soak's end; each one's
    task waits for its result. At most ``config.in_flight`` are open at once."""
    loop = asyncio.get_running_loop()
    room = asyncio.Semaphore(config.in_flight)
    starting = asyncio.Semaphore(config.start_concurrency)
    end = began + config.seconds
    prefix = f"{session.token}-s-"

    async def one(index: int) -> None:
        clock = time.perf_counter()
        try:
            try:
                async with starting:
                    handle = await session.client.start_workflow(
                        OneActivity.run, 1, id=f"{prefix}{index}", task_queue=session.task_queue
                    )
            except Exception as exc:
                counters.start_failures += 1
                counters.note(exc)
                return
            counters.started += 1
            try:
                await handle.result()
            except Exception as exc:
                counters.result_failures += 1
                counters.note(exc)
                return
            counters.completed += 1
            counters.latencies.append(time.perf_counter() - clock)
        finally:
            room.release()

    due = began
    while True:
        now = loop.time()
        if now >= end:
            return
        if due > now:
            await asyncio.sleep(min(due, end) - now)
            continue
        if now - due > BEHIND_LIMIT:
            dropped = int((now - due) * config.rate)
            counters.missed += dropped
            due += dropped / config.rate
        try:
            await asyncio.wait_for(room.acquire(), end - now)
        except TimeoutError:
            return
        task = asyncio.create_task(one(counters.launched))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        counters.launched += 1
        due += 1 / config.rate


async def _sample(
    session: Session,
    config: SoakConfig,
    counters: Counters,
    began: float,
    samples: list[dict[str, Any]],
    log: Callable[[str], None],
) -> None:
    loop = asyncio.get_running_loop()
    names = [*(f"worker-{i}" for i in range(len(session.workers))), "client"]
    pids: dict[str, int | None] = dict(zip(names, [*session.worker_pids, os.getpid()], strict=True))
    for at in sample_times(config.seconds, config.sample_seconds):
        await asyncio.sleep(max(0.0, began + at - loop.time()))
        for name, worker in zip(names, session.workers, strict=False):
            if worker.process.returncode is not None:
                pids[name] = None
        samples.append(
            _reading(loop.time() - began, counters, pids, samples[-1] if samples else None)
        )
        last = samples[-1]
        memory = ", ".join(f"{k} {_num(v, 0)}" for k, v in last["rss_mib"].items())
        log(
            f"{session.target.name}: {last['t']:.0f} s, {last['completed']:,} completed, "
            f"backlog {last['backlog']:,}, RSS MiB {memory}"
        )


async def soak(target: Target, config: SoakConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """The soak on one set-up target: its samples, totals and verdicts."""
    async with target.session("soak", workers=config.worker_processes) as session:
        counters = Counters()
        samples: list[dict[str, Any]] = []
        tasks: set[Any] = set()
        cpu = CpuMeter(workers=session.worker_pids, servers=target.server_pids())
        cpu.start()
        began = asyncio.get_running_loop().time()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(_offer(session, config, counters, began, tasks))
                group.create_task(_sample(session, config, counters, began, samples, log))
            cpu.stop()
            completed_at_end = counters.completed
            unfinished = 0
            if tasks:
                _, pending = await asyncio.wait(set(tasks), timeout=DRAIN_TIMEOUT)
                unfinished = len(pending)
        finally:
            left = list(tasks)
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)
    per_1k = 1000 / completed_at_end if completed_at_end else math.nan
    totals = {
        "launched": counters.launched,
        "started": counters.started,
        "completed": completed_at_end,
        "completed_after_drain": counters.completed,
        "failed": counters.failed,
        "missed": counters.missed,
        "unfinished": unfinished,
        "first_error": counters.first_error,
        "offered_per_s": config.rate,
        "throughput_per_s": completed_at_end / config.seconds,
        "max_backlog": max((s["backlog"] for s in samples), default=0),
        "cpu_s_per_1k": {
            k: v * per_1k for k, v in cpu.result.items() if k != "server" or cpu.servers
        },
        "worker_exit_codes": [w.process.returncode for w in session.workers],
    }
    return {"samples": samples, "totals": totals, "verdicts": verdicts(samples, config.warmup)}


def verdicts(
    samples: Sequence[dict[str, Any]],
    warmup: float,
    *,
    flat_pct: float = FLAT_PCT,
    flat_mib: float = FLAT_MIB,
) -> dict[str, dict[str, Any]]:
    """Per process: RSS at the first sample at or after ``warmup`` seconds (the baseline)
    and at the last sample, the growth between them in MiB and percent, in total and per
    minute, and ``verdict``: "flat" (grew less than ``flat_pct`` percent and less than
    ``flat_mib`` MiB), "growing", or "n/a" (no baseline, no later sample, process gone)."""
    names = list(samples[0]["rss_mib"]) if samples else []
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        base = next((s for s in samples if s["t"] >= warmup - 1e-6), None)
        end = samples[-1]
        base_mib = base["rss_mib"].get(name) if base else None
        end_mib = end["rss_mib"].get(name)
        known = [s["rss_mib"][name] for s in samples if s["rss_mib"].get(name) is not None]
        result: dict[str, Any] = dict.fromkeys(
            ("growth_mib", "growth_pct", "mib_per_min", "pct_per_min")
        ) | {
            "base_t": base["t"] if base else None,
            "base_mib": base_mib,
            "end_t": end["t"],
            "end_mib": end_mib,
            "peak_mib": max(known, default=None),
            "verdict": "n/a",
        }
        if base is not None and base_mib and end_mib is not None and end["t"] > base["t"]:
            growth = end_mib - base_mib
            pct = growth / base_mib * 100
            minutes = (end["t"] - base["t"]) / 60
            flat = pct < flat_pct and growth < flat_mib
            result |= {
                "growth_mib": growth,
                "growth_pct": pct,
                "mib_per_min": growth / minutes,
                "pct_per_min": pct / minutes,
                "verdict": "flat" if flat else "growing",
            }
        out[name] = result
    return out


async def run(config: SoakConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Soak every executor, one after the other; the result document (an executor that
    fails records its error and the run goes on)."""
    began = datetime.now(UTC)
    load_before = os.getloadavg()
    executors: dict[str, Any] = {}
    for name in config.executors:
        target = make_target(
            name,
            worker_processes=config.worker_processes,
            database_url=config.database_url,
            temporal_address=config.temporal_address,
            pg_durable=config.pg_durable,
        )
        entry: dict[str, Any] = {}
        executors[name] = entry
        log(f"[bold]{name}[/bold]: starting")
        clock = time.perf_counter()
        try:
            await target.setup()
            entry["setup_seconds"] = time.perf_counter() - clock
            entry["info"] = target.describe()
            log(f"{name}: {config.rate:g} wf/s for {config.minutes:g} min")
            entry |= await soak(target, config, log)
        except Exception as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            entry["traceback"] = traceback.format_exc()
            log(f"[red]{name}: failed: {escape(entry['error'])}[/red]")
        finally:
            await target.teardown()
    settings = {k: v for k, v in asdict(config).items() if k != "database_url"}
    return {
        "version": 1,
        "kind": "soak",
        "revision": revision(),
        "started_at": began.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": machine() | {"load_average": {"before": load_before, "after": os.getloadavg()}},
        "config": settings
        | {
            "warmup": config.warmup,
            "in_flight": config.in_flight,
            "flat_pct": FLAT_PCT,
            "flat_mib": FLAT_MIB,
            "database_url_given": bool(config.database_url),
        },
        "executors": executors,
    }


def default_output(now: datetime) -> Path:
    """``benchmarks/results/soak-<UTC timestamp>.json``."""
    return RESULTS_DIR / f"soak-{now.strftime('%Y%m%dT%H%M%SZ')}.json"


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def rows(entry: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The headers and cells of one executor's table: one row per sample."""
    samples = entry.get("samples", [])
    names = list(samples[0]["rss_mib"]) if samples else []
    headers = ["time", "completed", "wf/s", "backlog", "p50 ms", *(f"{n} MiB" for n in names)]
    cells = [
        [
            _clock(s["t"]),
            _num(s["completed"]),
            _num(s["throughput_per_s"], 0),
            _num(s["backlog"]),
            _num(s["p50_ms"]),
            *(_num(s["rss_mib"].get(n)) for n in names),
        ]
        for s in samples
    ]
    return headers, cells


def verdict_lines(entry: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The lines under one executor's table: totals, the first error, the threshold and
    one verdict per process (RSS after the warm-up and at the end, growth, verdict)."""
    lines = []
    if totals := entry.get("totals"):
        lines.append(
            f"{totals['completed']:,} completed at {totals['throughput_per_s']:.0f} wf/s "
            f"(offered {totals['offered_per_s']:g}/s), {totals['failed']:,} failed, "
            f"{totals['missed']:,} starts missed (behind schedule), largest backlog "
            f"{totals['max_backlog']:,}, {totals['unfinished']:,} open after the drain, "
            "CPU s/1k wf: "
            + ", ".join(f"{k} {_num(v, 2)}" for k, v in totals["cpu_s_per_1k"].items())
        )
        if totals.get("first_error"):
            lines.append(f"first error: {totals['first_error']}")
    lines.append(
        f"RSS from the end of the warm-up ({_clock(config.get('warmup'))}) to the end; flat: "
        f"grew less than {config.get('flat_pct', FLAT_PCT):g}% and less than "
        f"{config.get('flat_mib', FLAT_MIB):g} MiB"
    )
    for name, v in entry.get("verdicts", {}).items():
        if v["growth_mib"] is None:
            lines.append(f"  {name}: n/a (no sample after the warm-up, or the process is gone)")
            continue
        lines.append(
            f"  {name}: {v['base_mib']:.1f} MiB at {_clock(v['base_t'])} → {v['end_mib']:.1f} "
            f"MiB at {_clock(v['end_t'])}: {v['growth_mib']:+.1f} MiB ({v['growth_pct']:+.1f}%), "
            f"{v['mib_per_min']:+.2f} MiB/min ({v['pct_per_min']:+.2f}%/min), "
            f"peak {v['peak_mib']:.1f} MiB: {v['verdict']}"
        )
    return lines


def render(doc: dict[str, Any], console: Console) -> None:
    """Print one table per executor with its totals and verdicts, and the machine's load."""
    config = doc.get("config", {})
    for executor, entry in doc.get("executors", {}).items():
        if entry.get("error"):
            console.print(f"[red]error[/red] {executor}: {escape(entry['error'])}")
            continue
        headers, cells = rows(entry)
        table = Table(title=f"soak: {executor}", title_justify="left")
        for header in headers:
            table.add_column(header, justify="right")
        for row in cells:
            table.add_row(*row)
        console.print(table)
        for line in verdict_lines(entry, config):
            console.print(line, markup=False)
    load = doc.get("machine", {}).get("load_average")
    if load:
        before, after = load["before"][0], load["after"][0]
        console.print(
            f"{doc['machine'].get('cpus')} CPUs; load average {before:.2f} before the run, "
            f"{after:.2f} after (other work on the machine skews the figures)"
        )
