"""``turnout demo``: a small real workflow on SQLite, and its timeline.

The workflow itself lives in :mod:`turnout.cli._demo_workflow`, imported only when the
demo runs."""

from __future__ import annotations

import os
import uuid
from typing import Any

import click

from turnout.cli._context import connected, settings_for
from turnout.cli._errors import run_async
from turnout.cli._output import dump, err, out, print_events, wait_result
from turnout.contracts.events import Event
from turnout.contracts.records import Run

__all__ = ["register"]


@click.command()
@click.option("--topic", default="turnout", show_default=True)
@click.pass_context
def demo(ctx: click.Context, topic: str) -> None:
    """Run a small real workflow on SQLite (retry, timer, signal) and show its timeline."""
    import turnout
    from turnout.cli._demo_workflow import Report, fetch_report

    settings = settings_for(ctx)
    if settings.executor.value != "internal":
        raise click.UsageError("the demo runs on the internal executor (unset TURNOUT_EXECUTOR)")
    workflow_id = f"demo-{uuid.uuid4().hex[:8]}"

    async def go() -> tuple[Any, Run, list[Event]]:
        async with (
            connected(ctx, [Report]) as client,
            turnout.Worker(
                client, task_queue="demo", workflows=[Report], activities=[fetch_report]
            ),
        ):
            handle = await client.start_workflow(
                Report.run, topic, id=workflow_id, task_queue="demo"
            )
            err.print(f"started demo.Report as {workflow_id} on {settings.database_url}")
            await handle.signal(Report.approve, os.environ.get("USER") or "you")
            value = await wait_result(handle, spinner=True)
            return value, await handle.describe(), await handle.events()

    value, run, timeline = run_async(go())
    out.print(f"result: {dump(value)}")
    out.print(f"state:  {run.state.value}")
    print_events(timeline)
    out.print(f"see it again: turnout events {workflow_id}   (or: turnout describe {workflow_id})")


def register(group: click.Group) -> None:
    """Add ``turnout demo`` to ``group``."""
    group.add_command(demo)
