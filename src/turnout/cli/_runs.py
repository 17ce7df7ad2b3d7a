"""``turnout start | result | describe | list | signal | query | cancel | terminate |
events``: one run at a time, or the list of runs."""

from __future__ import annotations

import uuid
from datetime import timedelta

import click
from rich.table import Column, Table

from turnout.cli._context import connected, definitions
from turnout.cli._errors import Failed, json_args, run_async
from turnout.cli._output import (
    dump,
    err,
    failure_chain,
    out,
    print_events,
    print_run,
    timestamp,
    wait_result,
)
from turnout.contracts.errors import WorkflowFailureError
from turnout.contracts.states import RunState

__all__ = ["register"]


@click.command()
@click.argument("workflow")
@click.option("--id", "workflow_id", help="Workflow id (default: a new UUID).")
@click.option("--task-queue", "-q", required=True)
@click.option("--input", "-i", "inputs", multiple=True, metavar="JSON",
              help="One JSON argument; repeat for several.")  # fmt: skip
@click.option("--wait", is_flag=True, help="Wait for the result and print it.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def start(
    ctx: click.Context,
    workflow: str,
    workflow_id: str | None,
    task_queue: str,
    inputs: tuple[str, ...],
    wait: bool,
    as_json: bool,
) -> None:
    """Start WORKFLOW (its type name) with JSON --input arguments."""
    args = json_args(inputs, "--input")
    workflow_id = workflow_id or str(uuid.uuid4())

    async def go() -> None:
        async with connected(ctx) as client:
            handle = await client.start_workflow(
                workflow, args=args, id=workflow_id, task_queue=task_queue
            )
            if as_json:
                out.print(dump({"workflow_id": handle.id, "run_id": handle.result_run_id}))
            else:
                err.print(f"started {workflow} as {handle.id} (run {handle.result_run_id})")
            if wait:
                try:
                    out.print(dump(await wait_result(handle, spinner=True)))
                except WorkflowFailureError as exc:
                    raise Failed(
                        f"workflow {handle.id} failed: {failure_chain(exc.cause)}"
                    ) from exc

    run_async(go())


@click.command()
@click.argument("workflow_id")
@click.option("--run-id")
@click.pass_context
def result(ctx: click.Context, workflow_id: str, run_id: str | None) -> None:
    """Wait for WORKFLOW_ID to close; print its result as JSON (exit 1 if it failed)."""

    async def go() -> None:
        async with connected(ctx, reads_only=True) as client:
            handle = client.get_workflow_handle(workflow_id, run_id=run_id)
            try:
                out.print(dump(await wait_result(handle, spinner=True)))
            except WorkflowFailureError as exc:
                raise Failed(f"workflow {workflow_id} failed: {failure_chain(exc.cause)}") from exc

    run_async(go())


@click.command()
@click.argument("workflow_id")
@click.option("--run-id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def describe(ctx: click.Context, workflow_id: str, run_id: str | None, as_json: bool) -> None:
    """Show the run's state, timestamps and outcome."""

    async def go() -> None:
        async with connected(ctx, reads_only=True) as client:
            run = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
            out.print(run.model_dump_json()) if as_json else print_run(run)

    run_async(go())


@click.command(name="list")
@click.option(
    "--query",
    help="A list query in Temporal's language, e.g. \"WorkflowType = 'Checkout' AND "
    "CustomerId = 'acme' ORDER BY StartTime DESC\" (see docs/visibility.md).",
)
@click.option("--state", type=click.Choice([s.value for s in RunState]))
@click.option("--type", "workflow_type", help="Workflow type name.")
@click.option("--task-queue", "-q")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def list_(
    ctx: click.Context,
    query: str | None,
    state: str | None,
    workflow_type: str | None,
    task_queue: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List runs, newest first (or in the order of --query's ORDER BY)."""

    async def go() -> None:
        async with connected(ctx, reads_only=True) as client:
            runs = await client.list_workflows(
                query,
                state=RunState(state) if state else None,
                workflow_type=workflow_type,
                task_queue=task_queue,
                limit=limit,
            )
        if as_json:
            for run in runs:
                out.print(run.model_dump_json())
            return
        # A run id is copied to other commands: never cut or wrapped.
        run_id = Column("run id", no_wrap=True, min_width=36)
        table = Table("workflow id", run_id, "type", "state", "requested", "closed")
        for run in runs:
            table.add_row(
                run.workflow_id,
                run.run_id,
                run.workflow_type,
                run.state.value,
                timestamp(run.requested_at),
                timestamp(run.closed_at),
            )
        out.print(table)

    run_async(go())


@click.command(name="signal")
@click.argument("workflow_id")
@click.argument("name")
@click.argument("args", nargs=-1, metavar="[JSON]...")
@click.pass_context
def signal_(ctx: click.Context, workflow_id: str, name: str, args: tuple[str, ...]) -> None:
    """Send signal NAME with JSON arguments."""
    values = json_args(args, "JSON")

    async def go() -> None:
        async with connected(ctx) as client:
            await client.get_workflow_handle(workflow_id).signal(name, args=values)
        err.print(f"signal {name} sent to {workflow_id}")

    run_async(go())


@click.command()
@click.argument("workflow_id")
@click.argument("name")
@click.argument("args", nargs=-1, metavar="[JSON]...")
@click.option("--module", "-m", "modules", multiple=True,
              help="Module with the workflow class (optional: its return type converts the "
              "answer; a worker answers either way).")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(0, 86_400, min_open=True), default=30.0,
              show_default=True, metavar="SECONDS",
              help="How long to wait for a worker of the run's task queue to answer.")  # fmt: skip
@click.pass_context
def query(
    ctx: click.Context,
    workflow_id: str,
    name: str,
    args: tuple[str, ...],
    modules: tuple[str, ...],
    timeout: float,
) -> None:
    """Ask query NAME (a worker of the run's task queue answers); print the answer as JSON."""
    values = json_args(args, "JSON")
    workflows, _ = definitions(modules)

    async def go() -> None:
        async with connected(ctx, workflows, reads_only=True) as client:
            answer = await client.get_workflow_handle(workflow_id).query(
                name, args=values, rpc_timeout=timedelta(seconds=timeout)
            )
        out.print(dump(answer))

    run_async(go())


@click.command()
@click.argument("workflow_id")
@click.pass_context
def cancel(ctx: click.Context, workflow_id: str) -> None:
    """Request cancellation (the workflow may clean up)."""

    async def go() -> None:
        async with connected(ctx) as client:
            await client.get_workflow_handle(workflow_id).cancel()
        err.print(f"cancellation of {workflow_id} requested")

    run_async(go())


@click.command()
@click.argument("workflow_id")
@click.option("--reason", help="Why, for the timeline (optional, as on Temporal).")
@click.pass_context
def terminate(ctx: click.Context, workflow_id: str, reason: str | None) -> None:
    """End the run at once."""

    async def go() -> None:
        async with connected(ctx) as client:
            await client.get_workflow_handle(workflow_id).terminate(reason=reason)
        err.print(f"{workflow_id} terminated")

    run_async(go())


@click.command()
@click.argument("workflow_id")
@click.option("--run-id")
@click.option("--json", "as_json", is_flag=True, help="JSON lines (replayable with "
              "`turnout replay --from-file`).")  # fmt: skip
@click.pass_context
def events(ctx: click.Context, workflow_id: str, run_id: str | None, as_json: bool) -> None:
    """Print the run's event timeline."""

    async def go() -> None:
        async with connected(ctx, reads_only=True) as client:
            timeline = await client.get_workflow_handle(workflow_id, run_id=run_id).events()
        if as_json:
            for event in timeline:
                out.print(event.model_dump_json(), markup=False)
        else:
            print_events(timeline)

    run_async(go())


def register(group: click.Group) -> None:
    """Add the commands of this module to ``group``."""
    for command in (start, result, describe, list_, signal_, query, cancel, terminate, events):
        group.add_command(command)
