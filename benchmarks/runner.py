"""One benchmark run: every chosen workload on every chosen executor, one after the other.

Executors run in turn, never at once, so they do not compete for the
machine. A workload that fails records its error and the run goes on.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.markup import escape

from benchmarks import event_loop
from benchmarks.targets import TargetUnavailable, make_target
from benchmarks.wakeup import probe
from benchmarks.workloads import START_CONCURRENCY, WORKLOADS, Options, sizes_for

__all__ = ["Config", "machine", "revision", "run"]


@dataclass(frozen=True)
class Config:
    """Everything one run is told on the command line."""

    executors: Sequence[str]
    workloads: Sequence[str] = tuple(WORKLOADS)
    scale: float = 1.0
    worker_processes: int = 2
    database_url: str | None = None
    temporal_address: str | None = None
    temporal_max_n: int | None = None
    pg_durable: bool = False
    timeout: float = 600.0
    start_concurrency: int = START_CONCURRENCY
    profile_dir: Path | None = None

    def size(self, executor: str, workload: str) -> int:
        """The count of ``workload`` on ``executor`` (Temporal may be capped)."""
        count = sizes_for(self.scale)[workload]
        if (
            executor == "temporal"
            and self.temporal_max_n is not None
            and workload in {"one_activity", "sequential", "fan_out"}
        ):
            count = min(count, self.temporal_max_n)
        return count


def revision() -> str | None:
    """``git describe --always --dirty`` of the benchmarked tree (None outside a checkout)."""
    import subprocess

    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "event_loop": event_loop.name(),
    }


async def run(config: Config, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the benchmark; return the result document (see benchmarks/README.md)."""
    began = datetime.now(UTC)
    load_before = os.getloadavg()
    wakeup = await asyncio.to_thread(probe)
    options = Options(
        timeout=config.timeout, scale=config.scale, start_concurrency=config.start_concurrency
    )
    executors: dict[str, Any] = {}
    for name in config.executors:
        target = make_target(
            name,
            worker_processes=config.worker_processes,
            database_url=config.database_url,
            temporal_address=config.temporal_address,
            pg_durable=config.pg_durable,
        )
        target.profile_dir = config.profile_dir
        entry: dict[str, Any] = {"workloads": {}}
        executors[name] = entry
        log(f"[bold]{name}[/bold]: starting")
        clock = time.perf_counter()
        try:
            await target.setup()
        except Exception as exc:
            entry["error"] = f"set-up failed: {type(exc).__name__}: {exc}"
            if isinstance(exc, TargetUnavailable):  # its message says what to install
                entry["error"] = str(exc)
            log(f"[red]{name}: {escape(entry['error'])}[/red]")
            await target.teardown()
            continue
        entry["setup_seconds"] = time.perf_counter() - clock
        entry["info"] = target.describe()
        try:
            for workload in config.workloads:
                count = config.size(name, workload)
                if reason := target.skip_reason(workload):
                    entry["workloads"][workload] = {"skipped": reason, "size": count}
                    log(f"{name}: {workload} skipped: {reason}")
                    continue
                log(f"{name}: {workload} (n={count:,})")
                clock = time.perf_counter()
                try:
                    result = await WORKLOADS[workload](target, count, options)
                except Exception as exc:
                    result = {
                        "error": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc(),
                    }
                    log(f"[red]{name}: {workload} failed: {result['error']}[/red]")
                result["size"] = count
                result["wall_seconds"] = time.perf_counter() - clock
                entry["workloads"][workload] = result
        finally:
            await target.teardown()
    return {
        "version": 1,
        "revision": revision(),
        "started_at": began.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": machine()
        | {"load_average": {"before": load_before, "after": os.getloadavg()}, "wakeup": wakeup},
        "config": {key: value for key, value in asdict(config).items() if key != "database_url"}
        | {"database_url_given": config.database_url is not None},
        "executors": executors,
    }


def run_sync(config: Config, log: Callable[[str], None] = print) -> dict[str, Any]:
    """:func:`run` in a new event loop."""
    return event_loop.run(run(config, log))
