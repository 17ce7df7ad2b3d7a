"""``turnout status``: a live view of the task queues."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import click
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from turnout.cli._context import connected
from turnout.cli._errors import Failed, run_async
from turnout.cli._output import out, timestamp

__all__ = ["register", "render"]


def _lag(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def render(snap: Any) -> Group:
    """The tables of one snapshot."""
    queues = Table(
        "task queue", "depth", "lag", "leased", "workers (slots in use)", "done/min", "dead",
        title=f"task queues at {timestamp(snap.at)}",
        title_justify="left",
    )  # fmt: skip
    for q in snap.queues:
        polling = ", ".join(f"{w} ({n})" for w, n in sorted(q.workers.items()))
        # A queue with work and no worker polling it waits for nobody: say so.
        workers = Text(polling or ("no worker polling" if q.depth else "-"),
                       style="red" if q.depth and not polling else "")  # fmt: skip
        queues.add_row(
            q.task_queue,
            str(q.depth),
            _lag(q.lag_seconds),
            str(q.leased),
            workers,
            str(q.completed_last_minute),
            Text(str(q.dead), style="red" if q.dead else ""),
        )
    runs = " ".join(f"{state}={count}" for state, count in sorted(snap.runs.items())) or "none"
    failures = Table("time", "workflow id", "event", "what", title="recent failures",
                     title_justify="left")  # fmt: skip
    for f in snap.failures:
        failures.add_row(timestamp(f["at"]), f["workflow_id"], f["event"], f["what"])
    return Group(queues, f"runs: {runs}", failures)


@click.command()
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
        async with connected(ctx, reads_only=True) as client:
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
        run_async(go())


def _jsonable(snap: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(snap)


def register(group: click.Group) -> None:
    """Add ``turnout status`` to ``group``."""
    group.add_command(status)
