"""``python -m benchmarks run``: the same workloads on every executor, side by side;
``python -m benchmarks scaling``: each executor with 1, 2, 4 worker processes;
``python -m benchmarks soak``: memory under a steady load for minutes.

See benchmarks/README.md for what each workload does and what each column means.
"""

from __future__ import annotations

import cProfile
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console

from benchmarks import event_loop, report, scaling, soak
from benchmarks.runner import Config, run
from benchmarks.targets import ALL_EXECUTORS, EXECUTORS, PEERS
from benchmarks.workloads import FULL_SIZES, START_CONCURRENCY, WORKLOADS

__all__ = ["cli"]

QUICK_SCALE = 0.05


def _names(value: str, allowed: tuple[str, ...], what: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown {what} {', '.join(unknown) or '(none given)'}; choose from "
            f"{', '.join(allowed)}"
        )
    return names


@click.group()
def cli() -> None:
    """turnout's benchmark harness."""


@cli.command("run")
@click.option(
    "--executors",
    default=",".join(EXECUTORS),
    show_default=True,
    help=f"Comma-separated executors to run, in this order; the peers {', '.join(PEERS)} "
    "run on request.",
)
@click.option(
    "--workloads",
    default=",".join(WORKLOADS),
    show_default=True,
    help="Comma-separated workloads to run.",
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Multiply every workload's size (1.0: full size).",
)
@click.option(
    "--n",
    "n",
    type=click.IntRange(min=1),
    default=None,
    help=f"Workflows of the one-activity workload (full size {FULL_SIZES['one_activity']:,}); "
    "the other workloads scale with it.",
)
@click.option("--quick", is_flag=True, help=f"Every workload at {QUICK_SCALE:g} of full size.")
@click.option(
    "--worker-processes",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker subprocesses per workload.",
)
@click.option(
    "--database-url",
    envvar="TURNOUT_BENCH_DATABASE_URL",
    help="An existing PostgreSQL server (a role that may create databases) instead of a "
    "throwaway local cluster.",
)
@click.option(
    "--pg-durable",
    is_flag=True,
    help="Run the throwaway PostgreSQL cluster on disk with fsync and synchronous_commit on "
    "(by default it runs in memory with both off).",
)
@click.option(
    "--temporal-address",
    envvar="TURNOUT_BENCH_TEMPORAL_ADDRESS",
    help="host:port of an existing Temporal frontend instead of a dev server.",
)
@click.option(
    "--temporal-max-n",
    type=click.IntRange(min=1),
    default=None,
    help="Cap the workflows of the throughput workloads on Temporal.",
)
@click.option(
    "--start-concurrency",
    type=click.IntRange(min=1),
    default=START_CONCURRENCY,
    show_default=True,
    help="Start calls in flight at once in the throughput workloads.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    help="Seconds a workload may take before it fails.",
)
@click.option(
    "--profile",
    "profile_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write cProfile statistics of this process and of every worker process to this "
    "directory (read them with python -m pstats).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the JSON result (default benchmarks/results/<timestamp>.json).",
)
def run_command(
    executors: str,
    workloads: str,
    scale: float | None,
    n: int | None,
    quick: bool,
    worker_processes: int,
    database_url: str | None,
    pg_durable: bool,
    temporal_address: str | None,
    temporal_max_n: int | None,
    start_concurrency: int,
    timeout: float,
    profile_dir: Path | None,
    output: Path | None,
) -> None:
    """Run the workloads on the executors; print the tables and write the JSON result."""
    if sum(x is not None and x is not False for x in (scale, n, quick or None)) > 1:
        raise click.UsageError("give at most one of --scale, --n and --quick")
    if n is not None:
        scale = n / FULL_SIZES["one_activity"]
    elif quick:
        scale = QUICK_SCALE
    config = Config(
        executors=_names(executors, ALL_EXECUTORS, "executor"),
        workloads=_names(workloads, tuple(WORKLOADS), "workload"),
        scale=scale or 1.0,
        worker_processes=worker_processes,
        database_url=database_url,
        temporal_address=temporal_address,
        temporal_max_n=temporal_max_n,
        pg_durable=pg_durable,
        timeout=timeout,
        start_concurrency=start_concurrency,
        profile_dir=profile_dir.resolve() if profile_dir else None,
    )
    width = max(shutil.get_terminal_size((160, 40)).columns, 160)
    console = Console(width=width, highlight=False)
    profiler = None
    if config.profile_dir is not None:
        config.profile_dir.mkdir(parents=True, exist_ok=True)
        profiler = cProfile.Profile()
        profiler.enable()
    doc = event_loop.run(run(config, console.log))
    if profiler is not None and config.profile_dir is not None:
        profiler.disable()
        profiler.dump_stats(config.profile_dir / "benchmark.pstats")
    report.finish(doc)
    report.render(doc, console)
    path = output or report.default_output(datetime.now(UTC))
    report.write(doc, path)
    console.print(f"results written to {path}")
    if config.profile_dir is not None:
        console.print(f"profiles written to {config.profile_dir}")


@cli.command("scaling")
@click.option(
    "--executors",
    default=",".join(scaling.DEFAULT_EXECUTORS),
    show_default=True,
    help="Comma-separated executors to run, in this order.",
)
@click.option(
    "--workers",
    default=",".join(map(str, scaling.DEFAULT_WORKERS)),
    show_default=True,
    help="Worker processes of the one-activity throughput rows, comma-separated.",
)
@click.option(
    "--backlog-workers",
    default=None,
    help="Worker processes of the backlog drain rows, comma-separated [default: the largest "
    "of --workers].",
)
@click.option(
    "--n",
    "n",
    type=click.IntRange(min=1),
    default=None,
    help=f"Workflows per throughput row (full size {FULL_SIZES['one_activity']:,}).",
)
@click.option(
    "--backlog",
    type=click.IntRange(min=1),
    default=None,
    help=f"Workflows queued before the drain's workers start (full size {scaling.FULL_BACKLOG:,}).",
)
@click.option(
    "--claim-runs",
    type=click.IntRange(min=0),
    default=None,
    help=f"Finished runs in the history of the claim rows (full size {FULL_SIZES['claim']:,}; "
    "0: no claim rows).",
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Multiply every size not given (1.0: full size).",
)
@click.option(
    "--database-url",
    envvar="TURNOUT_BENCH_DATABASE_URL",
    help="An existing PostgreSQL server (a role that may create databases).",
)
@click.option("--pg-durable", is_flag=True, help="Run the throwaway cluster on disk with fsync.")
@click.option(
    "--temporal-address",
    envvar="TURNOUT_BENCH_TEMPORAL_ADDRESS",
    help="host:port of an existing Temporal frontend instead of a dev server.",
)
@click.option(
    "--start-concurrency",
    type=click.IntRange(min=1),
    default=START_CONCURRENCY,
    show_default=True,
    help="Start calls in flight at once.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    help="Seconds a row may wait for its workflows before it fails.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the JSON result (default benchmarks/results/scaling-<timestamp>.json).",
)
def scaling_command(
    executors: str,
    workers: str,
    backlog_workers: str | None,
    n: int | None,
    backlog: int | None,
    claim_runs: int | None,
    scale: float,
    database_url: str | None,
    pg_durable: bool,
    temporal_address: str | None,
    start_concurrency: int,
    timeout: float,
    output: Path | None,
) -> None:
    """Throughput with each worker count, a backlog drain and claim latency; one table
    per executor, and the JSON result."""
    counts: dict[str, list[int]] = {}
    for name, value in (("--workers", workers), ("--backlog-workers", backlog_workers)):
        try:
            counts[name] = scaling.parse_counts(value) if value is not None else []
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=name) from None
    config = scaling.ScalingConfig(
        executors=_names(executors, EXECUTORS, "executor"),
        workers=counts["--workers"],
        backlog_workers=counts["--backlog-workers"],
        sizes=scaling.sizes(scale, n=n, backlog=backlog, claim_runs=claim_runs),
        scale=scale,
        database_url=database_url,
        temporal_address=temporal_address,
        pg_durable=pg_durable,
        timeout=timeout,
        start_concurrency=start_concurrency,
    )
    console = Console(width=max(shutil.get_terminal_size((160, 40)).columns, 160), highlight=False)
    doc = event_loop.run(scaling.run(config, console.log))
    scaling.render(doc, console)
    path = output or scaling.default_output(datetime.now(UTC))
    report.write(doc, path)
    console.print(f"results written to {path}")


@cli.command("soak")
@click.option(
    "--executors",
    default=",".join(soak.DEFAULT_EXECUTORS),
    show_default=True,
    help="Comma-separated executors to run, in this order.",
)
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="How long each executor is soaked.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=soak.DEFAULT_RATE,
    show_default=True,
    help="Workflows started per second.",
)
@click.option(
    "--sample-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds between memory samples.",
)
@click.option(
    "--warmup-seconds",
    type=click.FloatRange(min=0),
    default=soak.WARMUP_SECONDS,
    show_default=True,
    help="Memory after this (at most half the soak) is the baseline.",
)
@click.option(
    "--max-in-flight",
    type=click.IntRange(min=1),
    default=None,
    help="Workflows started and not closed, at most [default: 5 s of --rate].",
)
@click.option(
    "--worker-processes",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker subprocesses.",
)
@click.option(
    "--database-url",
    envvar="TURNOUT_BENCH_DATABASE_URL",
    help="An existing PostgreSQL server (a role that may create databases).",
)
@click.option("--pg-durable", is_flag=True, help="Run the throwaway cluster on disk with fsync.")
@click.option(
    "--temporal-address",
    envvar="TURNOUT_BENCH_TEMPORAL_ADDRESS",
    help="host:port of an existing Temporal frontend instead of a dev server.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the JSON result (default benchmarks/results/soak-<timestamp>.json).",
)
def soak_command(
    executors: str,
    minutes: float,
    rate: float,
    sample_seconds: float,
    warmup_seconds: float,
    max_in_flight: int | None,
    worker_processes: int,
    database_url: str | None,
    pg_durable: bool,
    temporal_address: str | None,
    output: Path | None,
) -> None:
    """Start one-activity workflows at a steady rate for minutes and sample every process's
    memory; one table per executor, a verdict per process, and the JSON result."""
    config = soak.SoakConfig(
        executors=_names(executors, EXECUTORS, "executor"),
        worker_processes=worker_processes,
        rate=rate,
        minutes=minutes,
        sample_seconds=sample_seconds,
        warmup_seconds=warmup_seconds,
        max_in_flight=max_in_flight,
        database_url=database_url,
        temporal_address=temporal_address,
        pg_durable=pg_durable,
    )
    try:
        config.check()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sample-seconds") from None
    console = Console(width=max(shutil.get_terminal_size((160, 40)).columns, 160), highlight=False)
    doc = event_loop.run(soak.run(config, console.log))
    soak.render(doc, console)
    path = output or soak.default_output(datetime.now(UTC))
    report.write(doc, path)
    console.print(f"results written to {path}")


def main() -> None:
    """Entry point of ``python -m benchmarks``."""
    cli(prog_name=f"{Path(sys.executable).name} -m benchmarks")


if __name__ == "__main__":
    main()
