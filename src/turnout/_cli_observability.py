"""``turnout status``: a live view of the task queues; and what ``turnout worker`` serves
with ``--metrics-port``, ``--health-port`` and ``--log-format``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import click
from rich.console import Group
from rich.live import Live
from rich.table import Table

from turnout.cli import Failed, _client, _run, cli, err, out
from turnout.observability.health import DEFAULT_HOST, Server

__all__ = ["worker_observability"]


@contextlib.asynccontextmanager
async def worker_observability(
    worker: Any,
    observer: Any,
    metrics_port: int | None,
    health_port: int | None,
    *,
    metrics_host: str = DEFAULT_HOST,
    health_host: str = DEFAULT_HOST,
) -> AsyncIterator[None]:
    """Serve ``/metrics`` and ``/healthz`` ``/readyz`` of a started ``worker`` while inside."""
    from turnout.observability import serve_health, serve_metrics

    servers: list[Server] = []
    try:
        if metrics_port is not None:
            started = await _listen(
                "--metrics-port", serve_metrics(observer.metrics, metrics_port, metrics_host)
            )
            servers.append(started)
            err.print(f"metrics on http://{metrics_host}:{started.port}/metrics")
        if health_port is not None:
            started = await _listen(
                "--health-port", serve_health([worker], health_port, health_host)
            )
            servers.append(started)
            err.print(f"health on http://{health_host}:{started.port}/healthz and /readyz")
        yield
    finally:
        for server in servers:
            await server.close()


async def _listen(option: str, starting: Awaitable[Server]) -> Server:
    """A started server, or the failure of ``option`` (the port is taken, say)."""
    try:
        return await starting
    except OSError as exc:
        raise Failed(f"{option}: {exc}") from exc


def make_observer(metrics_port: int | None, log_format: str | None) -> Any:
    """The worker's observer: metrics when ``--metrics-port`` is given (a clear error
    naming the extra when prometheus-client is missing), traces when TURNOUT_TRACING=1."""
    from turnout.contracts.errors import ConfigurationError
    from turnout.observability import (
        TRACING_ENV,
        WorkerObserver,
        configure_logging,
        require_metrics,
    )

    if log_format is not None:
        configure_logging(log_format)
    metrics = None
    if metrics_port is not None:
        try:
            metrics = require_metrics()()
        except ConfigurationError as exc:
            raise click.UsageError(f"--metrics-port: {exc}") from exc
    try:
        return WorkerObserver(metrics=metrics)
    except ConfigurationError as exc:
        raise click.UsageError(f"{TRACING_ENV}: {exc}") from exc


def _lag(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def render(snap: Any) -> Group:
    """The tables of one snapshot."""
    queues = Table(
        "task queue", "depth", "lag", "leased", "workers (slots in use)", "done/min", "dead",
        title=f"task queues at {snap.at:%H:%M:%S} UTC",
        title_justify="left",
    )  # fmt: skip
    for q in snap.queues:
        workers = ", ".join(f"{w} ({n})" for w, n in sorted(q.workers.items())) or "-"
        queues.add_row(
            q.task_queue,
            str(q.depth),
            _lag(q.lag_seconds),
            str(q.leased),
            workers,
            str(q.completed_last_minute),
            str(q.dead) if not q.dead else f"[red]{q.dead}[/red]",
        )
    runs = " ".join(f"{state}={count}" for state, count in sorted(snap.runs.items())) or "none"
    failures = Table("time", "workflow id", "event", "what", title="recent failures",
                     title_justify="left")  # fmt: skip
    for f in snap.failures:
        failures.add_row(f"{f['at']:%H:%M:%S}", f["workflow_id"], f["event"], f["what"])
    return Group(queues, f"runs: {runs}", failures)


@cli.command()
@click.option("--once", is_flag=True, help="Print one snapshot and exit (for scripts).")
@click.option("--json", "as_json", is_flag=True, help="With --once: one JSON object.")
@click.option("--interval", type=click.FloatRange(0.2), default=2.0, show_default=True,
              help="Seconds between refreshes.")  # fmt: skip
@click.pass_context
def status(ctx: click.Context, once: bool, as_json: bool, interval: float) -> None:
    """Live view of the task queues: depth, lag, throughput, workers and their slots in
    use, recent failures; refreshes until Ctrl-C (internal executor)."""
    from turnout.observability.status import snapshot

    async def go() -> None:
        async with _client(ctx) as client:
            if client.executor != "internal":
                raise Failed(
                    "turnout status reads the internal executor's tables; on Temporal use "
                    "the Temporal UI or `temporal task-queue describe`"
                )
            if once:
                snap = await snapshot(client)
                if as_json:
                    click.echo(json.dumps(_jsonable(snap), default=str))
                else:
                    out.print(render(snap))
                return
            with Live(console=out, auto_refresh=False) as live:
                while True:
                    live.update(render(await snapshot(client)))
                    live.refresh()
                    await asyncio.sleep(interval)

    with contextlib.suppress(KeyboardInterrupt):
        _run(go())


def _jsonable(snap: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(snap)
