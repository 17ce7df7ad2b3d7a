"""The ``turnout`` command: run workers, start and inspect workflows, replay, schema, doctor.

Settings come from ``TURNOUT_*`` variables (and ``[tool.turnout]``), overridden by
the global options. Exit codes: 0 ok, 1 failure, 2 bad usage.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from turnout._cli_input import BadInput, json_args
from turnout._discovery import load_definitions
from turnout.config import Settings, load_settings
from turnout.contracts.errors import TurnoutError, WorkflowFailureError
from turnout.contracts.events import Event
from turnout.contracts.limits import InvalidInputError
from turnout.contracts.records import Run
from turnout.contracts.states import RunState

__all__ = ["cli", "main"]

_WIDTH = None if sys.stdout.isatty() else 160  # tables stay readable in pipes and logs
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)

_KEY_ATTRIBUTES = (
    "activity_type",
    "attempt",
    "name",
    "duration",
    "timer_seq",
    "workflow_type",
    "patch_id",
    "reason",
    "from",
    "to",
    "delay",
    "timeout",
)


class Failed(click.ClickException):
    """A command that ran but failed (exit code 1)."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        err.print(f"[red]error:[/red] {escape(self.message)}")


def _settings(ctx: click.Context) -> Settings:
    options = ctx.find_root().params
    try:
        return load_settings(
            executor=options.get("executor"),
            database_url=options.get("database_url"),
            temporal_address=options.get("temporal_address"),
            temporal_namespace=options.get("namespace"),
            tenant_id=options.get("tenant"),
        )
    except TurnoutError as exc:
        raise click.UsageError(str(exc)) from exc


@contextlib.asynccontextmanager
async def _client(ctx: click.Context, workflows: Sequence[type] = ()) -> AsyncIterator[Any]:
    import turnout

    client = await turnout.connect(settings=_settings(ctx), workflows=workflows)
    try:
        yield client
    finally:
        await client.close()


def _run(coro: Awaitable[Any]) -> Any:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except InvalidInputError as exc:  # a value the user gave: exit code 2, one line
        raise BadInput(str(exc)) from exc
    except TurnoutError as exc:
        raise Failed(str(exc)) from exc
    except (OSError, ConnectionError) as exc:
        raise Failed(f"{exc} (check the database URL / Temporal address: turnout doctor)") from exc


def _json_args(values: Sequence[str], what: str) -> list[Any]:
    return json_args(values, what)


def _definitions(modules: Sequence[str]) -> tuple[list[type], list[Callable[..., Any]]]:
    if not modules:
        return [], []
    if os.getcwd() not in sys.path:  # `turnout worker myapp` finds ./myapp, as python -m does
        sys.path.insert(0, os.getcwd())
    try:
        found = load_definitions(modules)
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="MODULE") from exc
    return list(found.workflows), list(found.activities)


def _load_policy(target: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    if not attr:
        raise click.BadParameter(
            f"{target!r}: name the policy as MODULE:ATTR", param_hint="--policy"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        policy = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"{target!r}: {exc}", param_hint="--policy") from exc
    if not callable(policy):
        raise click.BadParameter(f"{target!r} is not callable", param_hint="--policy")
    return policy  # type: ignore[no-any-return]


def _dump(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _failure_chain(exc: BaseException) -> str:
    parts = []
    current: BaseException | None = exc
    while current is not None:
        kind = type(current).__name__
        detail = getattr(current, "message", None) or str(current)
        extra = getattr(current, "type", None)
        parts.append(f"{kind}({detail}{f', type={extra}' if extra else ''})")
        current = current.__cause__
    return " <- ".join(parts)


def _print_run(run: Run) -> None:
    table = Table(show_header=False, box=None)
    for key in ("workflow_id", "run_id", "workflow_type", "task_queue", "state", "attempt",
                "correlation_id", "requested_at", "started_at", "closed_at"):  # fmt: skip
        value = getattr(run, key)
        table.add_row(key, value.value if isinstance(value, RunState) else str(value))
    if run.result is not None:
        table.add_row("result", _dump(run.result))
    if run.failure is not None:
        table.add_row("failure", f"{run.failure.kind}: {run.failure.message}")
    out.print(table)


def _print_events(events: Sequence[Event]) -> None:
    table = Table("time", "seq", "event", "attributes", "elapsed")
    start = events[0].at if events else None
    for event in events:
        attrs = {k: event.attributes[k] for k in _KEY_ATTRIBUTES if k in event.attributes}
        elapsed = (event.at - start).total_seconds() if start else 0.0
        table.add_row(
            event.at.strftime("%H:%M:%S.%f")[:-3],
            str(event.seq),
            event.type.value,
            " ".join(f"{k}={v}" for k, v in attrs.items()),
            f"{elapsed:8.3f}s",
        )
    out.print(table)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--executor", type=click.Choice(["internal", "temporal"]), help="TURNOUT_EXECUTOR")
@click.option("--database-url", metavar="URL", help="TURNOUT_DATABASE_URL (internal executor)")
@click.option("--temporal-address", metavar="HOST:PORT", help="TURNOUT_TEMPORAL_ADDRESS")
@click.option("--namespace", help="TURNOUT_TEMPORAL_NAMESPACE")
@click.option("--tenant", help="TURNOUT_TENANT_ID: every command sees this tenant's runs only")
@click.version_option(package_name="turnout")
def cli(**_: Any) -> None:
    """Durable workflows on a database queue or on Temporal."""


@cli.command()
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
    from turnout._cli_observability import make_observer, worker_observability

    observer = make_observer(metrics_port, log_format)
    workflows, activities = _definitions(modules)
    consulted = [_load_policy(target) for target in policies]
    if not workflows and not activities:
        raise click.BadParameter(
            f"no @workflow.defn class or @activity.defn function found in {', '.join(modules)}",
            param_hint="MODULES",
        )

    async def serve() -> None:
        import turnout

        async with _client(ctx, workflows) as client:
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
                    **({"policies": consulted} if consulted else {}),
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
                    f"worker ready on {client.executor}, task queue {task_queue!r}: "
                    f"{', '.join(names)}"
                )
                await stop.wait()
                err.print(
                    "stopping: running work may finish within the grace period; "
                    "the rest goes back to the queue"
                )

    _run(serve())


async def _wait_result(handle: Any, spinner: bool) -> Any:
    if spinner and out.is_terminal:
        with out.status(f"waiting for {handle.id}..."):
            return await handle.result()
    return await handle.result()


@cli.command()
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
    args = _json_args(inputs, "--input")
    workflow_id = workflow_id or str(uuid.uuid4())

    async def go() -> None:
        async with _client(ctx) as client:
            handle = await client.start_workflow(
                workflow, args=args, id=workflow_id, task_queue=task_queue
            )
            if as_json:
                out.print(_dump({"workflow_id": handle.id, "run_id": handle.run_id}))
            else:
                err.print(f"started {workflow} as {handle.id} (run {handle.run_id})")
            if wait:
                out.print(_dump(await _wait_result(handle, spinner=True)))

    _run(go())


@cli.command()
@click.argument("workflow_id")
@click.option("--run-id")
@click.pass_context
def result(ctx: click.Context, workflow_id: str, run_id: str | None) -> None:
    """Wait for WORKFLOW_ID to close; print its result as JSON (exit 1 if it failed)."""

    async def go() -> None:
        async with _client(ctx) as client:
            handle = client.get_workflow_handle(workflow_id, run_id=run_id)
            try:
                out.print(_dump(await _wait_result(handle, spinner=True)))
            except WorkflowFailureError as exc:
                raise Failed(f"workflow {workflow_id} failed: {_failure_chain(exc.cause)}") from exc

    _run(go())


@cli.command()
@click.argument("workflow_id")
@click.option("--run-id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def describe(ctx: click.Context, workflow_id: str, run_id: str | None, as_json: bool) -> None:
    """Show the run's state, timestamps and outcome."""

    async def go() -> None:
        async with _client(ctx) as client:
            run = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
            out.print(run.model_dump_json()) if as_json else _print_run(run)

    _run(go())


@cli.command(name="list")
@click.option("--state", type=click.Choice([s.value for s in RunState]))
@click.option("--type", "workflow_type", help="Workflow type name.")
@click.option("--task-queue", "-q")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def list_(
    ctx: click.Context,
    state: str | None,
    workflow_type: str | None,
    task_queue: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List runs, newest first."""

    async def go() -> None:
        async with _client(ctx) as client:
            runs = await client.list_workflows(
                state=RunState(state) if state else None,
                workflow_type=workflow_type,
                task_queue=task_queue,
                limit=limit,
            )
        if as_json:
            for run in runs:
                out.print(run.model_dump_json())
            return
        table = Table("workflow id", "type", "state", "requested", "closed")
        for run in runs:
            table.add_row(
                run.workflow_id,
                run.workflow_type,
                run.state.value,
                run.requested_at.isoformat(timespec="seconds"),
                run.closed_at.isoformat(timespec="seconds") if run.closed_at else "",
            )
        out.print(table)

    _run(go())


@cli.command(name="signal")
@click.argument("workflow_id")
@click.argument("name")
@click.argument("args", nargs=-1, metavar="[JSON]...")
@click.pass_context
def signal_(ctx: click.Context, workflow_id: str, name: str, args: tuple[str, ...]) -> None:
    """Send signal NAME with JSON arguments."""
    values = _json_args(args, "JSON")

    async def go() -> None:
        async with _client(ctx) as client:
            await client.get_workflow_handle(workflow_id).signal(name, args=values)
        err.print(f"signal {name} sent to {workflow_id}")

    _run(go())


@cli.command()
@click.argument("workflow_id")
@click.argument("name")
@click.argument("args", nargs=-1, metavar="[JSON]...")
@click.option("--module", "-m", "modules", multiple=True,
              help="Module with the workflow class (the internal executor answers queries "
              "by replaying history here).")  # fmt: skip
@click.pass_context
def query(
    ctx: click.Context, workflow_id: str, name: str, args: tuple[str, ...], modules: tuple[str, ...]
) -> None:
    """Ask query NAME; print the answer as JSON."""
    values = _json_args(args, "JSON")
    workflows, _ = _definitions(modules)

    async def go() -> None:
        async with _client(ctx, workflows) as client:
            answer = await client.get_workflow_handle(workflow_id).query(name, args=values)
        out.print(_dump(answer))

    _run(go())


@cli.command()
@click.argument("workflow_id")
@click.pass_context
def cancel(ctx: click.Context, workflow_id: str) -> None:
    """Request cancellation (the workflow may clean up)."""

    async def go() -> None:
        async with _client(ctx) as client:
            await client.get_workflow_handle(workflow_id).cancel()
        err.print(f"cancellation of {workflow_id} requested")

    _run(go())


@cli.command()
@click.argument("workflow_id")
@click.option("--reason", required=True)
@click.pass_context
def terminate(ctx: click.Context, workflow_id: str, reason: str) -> None:
    """End the run at once."""

    async def go() -> None:
        async with _client(ctx) as client:
            await client.get_workflow_handle(workflow_id).terminate(reason=reason)
        err.print(f"{workflow_id} terminated")

    _run(go())


@cli.command()
@click.argument("workflow_id")
@click.option("--run-id")
@click.option("--json", "as_json", is_flag=True, help="JSON lines (replayable with "
              "`turnout replay --from-file`).")  # fmt: skip
@click.pass_context
def events(ctx: click.Context, workflow_id: str, run_id: str | None, as_json: bool) -> None:
    """Print the run's event timeline."""

    async def go() -> None:
        async with _client(ctx) as client:
            timeline = await client.get_workflow_handle(workflow_id, run_id=run_id).events()
        if as_json:
            for event in timeline:
                out.print(event.model_dump_json(), markup=False)
        else:
            _print_events(timeline)

    _run(go())


@cli.command()
@click.argument("workflow_id", required=False)
@click.option("--module", "-m", "modules", multiple=True, required=True,
              help="Module(s) with the current workflow code.")  # fmt: skip
@click.option("--from-file", type=click.File("r"), help="History exported with "
              "`turnout events ID --json` (internal executor).")  # fmt: skip
@click.option("--run-id")
@click.pass_context
def replay(
    ctx: click.Context,
    workflow_id: str | None,
    modules: tuple[str, ...],
    from_file: Any,
    run_id: str | None,
) -> None:
    """Re-run the current code over a recorded history; report the first divergence."""
    from turnout import replay as replaying

    if (workflow_id is None) == (from_file is None):
        raise click.UsageError("give a WORKFLOW_ID or --from-file, not both")
    workflows, _ = _definitions(modules)

    async def go() -> replaying.ReplayResult:
        if from_file is not None:
            history = [Event.model_validate_json(line) for line in from_file if line.strip()]
            return replaying.replay_events(history, workflows)
        async with _client(ctx, workflows) as client:
            return await replaying.replay_run(client, workflow_id or "", run_id, workflows)

    outcome = _run(go())
    if outcome.deterministic:
        out.print(f"deterministic: {outcome.summary}")
        return
    raise Failed(f"not deterministic: {outcome.summary}")


@cli.group()
def schema() -> None:
    """The internal executor's schema (PostgreSQL or SQLite)."""


@schema.command(name="create")
@click.pass_context
def schema_create(ctx: click.Context) -> None:
    """Create the tables (idempotent)."""
    from turnout.executors.internal.migrate import create_schema

    url = _settings(ctx).database_url
    _guard(lambda: create_schema(url))
    err.print(f"schema ready in {url}")


@schema.command(name="show")
@click.option("--dialect", type=click.Choice(["postgresql", "sqlite"]),
              help="Default: the configured database's.")  # fmt: skip
@click.pass_context
def schema_show(ctx: click.Context, dialect: str | None) -> None:
    """Print the DDL (for Alembic/Flyway users) and the database's revision."""
    from turnout.executors.internal.migrate import current_revision, ddl

    settings = _settings(ctx)
    out.print(ddl(dialect or settings.dialect), markup=False)
    with contextlib.suppress(Exception):
        err.print(
            f"-- revision of {settings.database_url}: {current_revision(settings.database_url)}"
        )


@schema.command(name="migrate")
@click.option("--revision", default="head", show_default=True)
@click.pass_context
def schema_migrate(ctx: click.Context, revision: str) -> None:
    """Upgrade the schema with the shipped migrations."""
    from turnout.executors.internal.migrate import current_revision, migrate

    url = _settings(ctx).database_url
    _guard(lambda: migrate(url, revision))
    err.print(f"schema of {url} at revision {current_revision(url)}")


def _guard(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except TurnoutError as exc:
        raise Failed(str(exc)) from exc
    except Exception as exc:
        raise Failed(f"{type(exc).__name__}: {exc}") from exc


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Check settings and connections; say what is wrong and how to fix it."""
    from turnout import _doctor

    checks = _run(_doctor.run_checks(ctx.find_root().params))
    if as_json:
        for check in checks:
            out.print(_dump(check.__dict__))
    else:
        for check in checks:
            mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
            out.print(f"{mark} {check.name}: {check.detail}")
            if not check.ok and check.fix:
                out.print(f"      fix: {check.fix}")
    if not all(c.ok for c in checks):
        raise SystemExit(1)


@cli.command()
@click.option("--topic", default="turnout", show_default=True)
@click.pass_context
def demo(ctx: click.Context, topic: str) -> None:
    """Run a small real workflow on SQLite (retry, timer, signal) and show its timeline."""
    import turnout
    from turnout._demo import Report, fetch_report

    settings = _settings(ctx)
    if settings.executor.value != "internal":
        raise click.UsageError("the demo runs on the internal executor (unset TURNOUT_EXECUTOR)")
    workflow_id = f"demo-{uuid.uuid4().hex[:8]}"

    async def go() -> tuple[Any, Run, list[Event]]:
        async with (
            _client(ctx, [Report]) as client,
            turnout.Worker(
                client, task_queue="demo", workflows=[Report], activities=[fetch_report]
            ),
        ):
            handle = await client.start_workflow(
                Report.run, topic, id=workflow_id, task_queue="demo"
            )
            err.print(f"started demo.Report as {workflow_id} on {settings.database_url}")
            await handle.signal(Report.approve, os.environ.get("USER") or "you")
            value = await _wait_result(handle, spinner=True)
            return value, await handle.describe(), await handle.events()

    value, run, timeline = _run(go())
    out.print(f"result: {_dump(value)}")
    out.print(f"state:  {run.state.value}")
    _print_events(timeline)
    out.print(f"see it again: turnout events {workflow_id}   (or: turnout describe {workflow_id})")


def _register_more_commands() -> None:
    # These modules register their commands on `cli`.
    from turnout import _cli_governance, _cli_http, _cli_observability  # noqa: F401


_register_more_commands()


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point. Exits with os._exit after flushing: native SDK threads (temporalio)
    may otherwise abort the interpreter at shutdown after the command succeeded."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
        code = code if isinstance(code, int) else 0
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.Abort:
        err.print("aborted")
        code = 1
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
