"""``turnout worker``: run workflows and activities until SIGINT/SIGTERM, with what it
serves on ``--metrics-port``, ``--health-port`` and logs with ``--log-format``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import click

from turnout.cli._context import connected, definitions, load_policy, settings_for
from turnout.cli._errors import BadConfiguration, BadInput, Failed, run_async
from turnout.cli._output import err
from turnout.config import EventLoop
from turnout.observability.health import DEFAULT_HOST, Server

__all__ = ["loop_factory", "make_observer", "register", "worker_observability"]


@click.command()
@click.argument("modules", nargs=-1, required=True)
@click.option("--task-queue", "-q", required=True, help="The task queue to poll.")
@click.option("--concurrency", "-c", type=click.IntRange(1), default=50, show_default=True,
              help="Activities and workflow tasks run at once.")  # fmt: skip
@click.option("--policy", "policies", multiple=True, metavar="MODULE:ATTR",
              help="A policy consulted before each activity (repeatable).")  # fmt: skip
@click.option("--metrics-port", type=click.IntRange(0, 65535), metavar="PORT",
              help="Serve Prometheus /metrics on PORT (needs turnout[observability]).")  # fmt: skip
@click.option("--health-port", type=click.IntRange(0, 65535), metavar="PORT",
              help="Serve /healthz (alive) and /readyz (ready to claim) on PORT.")  # fmt: skip
@click.option("--metrics-host", default="127.0.0.1", show_default=True, metavar="HOST",
              help="The address of --metrics-port (0.0.0.0: every interface).")  # fmt: skip
@click.option("--health-host", default="127.0.0.1", show_default=True, metavar="HOST",
              help="The address of --health-port (0.0.0.0: every interface).")  # fmt: skip
@click.option("--log-format", type=click.Choice(["text", "json"]),
              help="Log to stderr as text or JSON lines, each with the workflow id, run id, "
              "correlation id and attempt of its task.")  # fmt: skip
@click.pass_context
def worker(ctx: click.Context, modules: tuple[str, ...], task_queue: str, concurrency: int,
           policies: tuple[str, ...], metrics_port: int | None, health_port: int | None,
           metrics_host: str, health_host: str, log_format: str | None) -> None:  # fmt: skip
    """Run the workflows and activities found in MODULE[:ATTR]... until SIGINT/SIGTERM.

    Traces: set TURNOUT_TRACING=1 and configure an OpenTelemetry SDK exporter
    (e.g. the OTEL_* variables of opentelemetry-instrument)."""
    observer = make_observer(metrics_port, log_format)
    new_loop = loop_factory(ctx)
    workflows, activities = definitions(modules)
    consulted = [load_policy(target) for target in policies]
    if not workflows and not activities:
        raise BadInput(
            f"no @workflow.defn class or @activity.defn function found in {', '.join(modules)}: "
            "name the module (or MODULE:ATTR) that defines the workflows and activities to run"
        )

    async def serve() -> None:
        import turnout

        async with connected(ctx, workflows) as client:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            async with (
                turnout.Worker(
                    client,
                    task_queue=task_queue,
                    workflows=workflows,
                    activities=activities,
                    max_concurrent_activities=concurrency,
                    max_concurrent_workflow_tasks=concurrency,
                    observer=observer,
                    policies=consulted or (),
                ) as running,
                worker_observability(
                    running,
                    observer,
                    metrics_port,
                    health_port,
                    metrics_host=metrics_host,
                    health_host=health_host,
                ),
            ):
                names = [w.__name__ for w in workflows] + [a.__name__ for a in activities]
                err.print(
                    f"worker ready on {client.executor}{' (uvloop)' if new_loop else ''}, "
                    f"task queue {task_queue!r}: "
                    f"{', '.join(names)}"
                )
                await stop.wait()
                err.print(
                    "stopping: running work may finish within the grace period; "
                    "the rest goes back to the queue"
                )

    run_async(serve(), new_loop)


def loop_factory(ctx: click.Context) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes the event loop ``TURNOUT_EVENT_LOOP`` names (None: asyncio's own)."""
    if settings_for(ctx).event_loop is not EventLoop.UVLOOP:
        return None
    try:
        import uvloop
    except ImportError:
        raise BadConfiguration(
            "TURNOUT_EVENT_LOOP=uvloop needs the uvloop package: pip install "
            "'turnout[uvloop]', or unset TURNOUT_EVENT_LOOP"
        ) from None
    new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return new_loop


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
            raise BadConfiguration(f"--metrics-port: {exc}") from exc
    try:
        return WorkerObserver(metrics=metrics)
    except ConfigurationError as exc:
        raise BadConfiguration(f"{TRACING_ENV}: {exc}") from exc


def register(group: click.Group) -> None:
    """Add ``turnout worker`` to ``group``."""
    group.add_command(worker)
