"""``turnout demo``: a small real workflow on SQLite, and its timeline.

The workflow itself lives in :mod:`turnout.cli._demo_workflow`, imported only when the
demo runs."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import click

from turnout.cli._context import connected, internal_only
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

    settings = internal_only(ctx, "demo")
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
    again = _command_from_anywhere(settings.database_url)
    out.print(f"see it again: {again} events {workflow_id}   (or: {again} describe {workflow_id})")


def _command_from_anywhere(database_url: str) -> str:
    """``turnout`` as this process was started, with the database when it is a SQLite
    file named relative to the current directory: a command that works from any directory
    (``./scripts/demo`` runs in a directory of its own, from a virtual environment that
    may not be on PATH)."""
    invoked = Path(sys.argv[0])
    if invoked.name == "turnout":
        on_path = shutil.which("turnout")
        same = on_path is not None and Path(on_path).resolve() == invoked.resolve()
        program = "turnout" if same else shlex.quote(str(invoked.resolve()))
    else:  # python -m turnout
        on_path = shutil.which("python")
        same = on_path is not None and Path(on_path).resolve() == Path(sys.executable).resolve()
        program = ("python" if same else shlex.quote(sys.executable)) + " -m turnout"
    path = database_url.split(":///", 1)[1] if database_url.startswith("sqlite:///") else ""
    if not path or os.path.isabs(path) or path.startswith((":memory:", "file:")):
        return program
    url = "sqlite:///" + os.path.abspath(path)
    return f"{program} --database-url {shlex.quote(url)}"


def register(group: click.Group) -> None:
    """Add ``turnout demo`` to ``group``."""
    group.add_command(demo)
