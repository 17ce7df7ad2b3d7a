"""``turnout workers``: the workers polling the task queues, and what they run."""

from __future__ import annotations

import click
from rich.table import Table

from turnout.cli._context import connected
from turnout.cli._errors import run_async
from turnout.cli._output import dump, out, timestamp

__all__ = ["register"]


@click.command(name="workers")
@click.option("--task-queue", "-q", help="Only this queue's workers (required on Temporal).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def workers(ctx: click.Context, task_queue: str | None, as_json: bool) -> None:
    """List the live workers: queue, identity, host, the types they run, last seen."""

    async def go() -> None:
        async with connected(ctx, reads_only=True) as client:
            found = await client.workers(task_queue)
        if as_json:
            for w in found:
                out.print(dump(w.model_dump(mode="json")))
            return
        if not found:
            where = f"task queue {task_queue!r}" if task_queue else "any task queue"
            out.print(f"no worker has polled {where} lately")
            return
        table = Table("task queue", "identity", "host", "workflows", "activities", "last seen")
        for w in found:
            table.add_row(
                w.task_queue,
                w.identity,
                w.host or "-",
                "-" if w.workflow_types is None else ", ".join(w.workflow_types) or "none",
                "-" if w.activity_types is None else ", ".join(w.activity_types) or "none",
                timestamp(w.last_seen_at),
            )
        out.print(table)

    run_async(go())


def register(group: click.Group) -> None:
    """Add ``turnout workers`` to ``group``."""
    group.add_command(workers)
