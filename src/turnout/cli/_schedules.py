"""``turnout schedule create | list | describe | pause | unpause | trigger | backfill |
delete``: the schedules of the configured executor and tenant."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.table import Table

from turnout.cli._context import connected
from turnout.cli._errors import json_args, run_async
from turnout.cli._output import dump, out, timestamp
from turnout.contracts.limits import InvalidInputError
from turnout.contracts.schedules import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)

__all__ = ["register"]

_OVERLAP = click.Choice([p.name for p in ScheduleOverlapPolicy], case_sensitive=False)
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> timedelta:
    """``90s``, ``5m``, ``1h30m``, ``2d`` as a timedelta."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InvalidInputError(f"{text!r} is not a duration; write e.g. 30s, 5m, 1h30m or 2d")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"{text!r} is not a time; write ISO 8601, e.g. 2026-12-24T18:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _print(described: ScheduleDescription) -> None:
    s, info = described.schedule, described.info
    table = Table(show_header=False, box=None)
    state = "paused" if s.state.paused else "active"
    rows = [
        ("schedule", described.id),
        ("workflow", f"{s.action.workflow} on {s.action.task_queue} (ids {s.action.id}-<time>)"),
        ("overlap", s.policy.overlap.name),
        ("state", state + (f": {s.state.note}" if s.state.note else "")),
        ("actions", f"{info.num_actions} (missed {info.num_actions_missed_catchup_window}, "
                    f"skipped {info.num_actions_skipped_overlap})"),
        ("running", " ".join(a.workflow_id for a in info.running_actions) or "-"),
        ("recent", " ".join(r.action.workflow_id for r in info.recent_actions[-3:]) or "-"),
        ("next", " ".join(timestamp(t) for t in info.next_action_times[:3]) or "-"),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)


@click.group(name="schedule")
def schedule() -> None:
    """Schedules: start a workflow by cron expressions or intervals."""


@schedule.command(name="create")
@click.argument("schedule_id")
@click.argument("workflow")
@click.option("--task-queue", "-q", required=True)
@click.option(
    "--id",
    "workflow_id",
    help="The runs' workflow id, before the fire time (default: the schedule id).",
)
@click.option(
    "--cron", "crons", multiple=True, metavar="EXPR", help="A cron expression; repeat for several."
)
@click.option(
    "--interval",
    "intervals",
    multiple=True,
    metavar="DURATION",
    help="e.g. 30s, 5m, 1h; repeat for several.",
)
@click.option("--time-zone", help="The IANA zone cron expressions are read in (default UTC).")
@click.option(
    "--input",
    "-i",
    "inputs",
    multiple=True,
    metavar="JSON",
    help="One JSON argument; repeat for several.",
)
@click.option("--overlap", type=_OVERLAP, default="SKIP", show_default=True)
@click.option("--catchup-window", metavar="DURATION", help="Default: a year.")
@click.option("--paused", is_flag=True, help="Create it paused.")
@click.option("--note")
@click.pass_context
def create(
    ctx: click.Context,
    schedule_id: str,
    workflow: str,
    task_queue: str,
    workflow_id: str | None,
    crons: tuple[str, ...],
    intervals: tuple[str, ...],
    time_zone: str | None,
    inputs: tuple[str, ...],
    overlap: str,
    catchup_window: str | None,
    paused: bool,
    note: str | None,
) -> None:
    """Create schedule SCHEDULE_ID that starts WORKFLOW (a type name)."""
    args = json_args(inputs, "--input")

    async def go() -> None:
        spec = ScheduleSpec(
            cron_expressions=list(crons),
            intervals=[ScheduleIntervalSpec(every=_duration(i)) for i in intervals],
            time_zone_name=time_zone,
        )
        plan = Schedule(
            action=ScheduleActionStartWorkflow(
                workflow, args=args, id=workflow_id or schedule_id, task_queue=task_queue
            ),
            spec=spec,
            policy=SchedulePolicy(
                overlap=ScheduleOverlapPolicy[overlap.upper()],
                catchup_window=_duration(catchup_window) if catchup_window else None,
            ),
            state=ScheduleState(note=note, paused=paused),
        )
        async with connected(ctx) as client:
            handle = await client.create_schedule(schedule_id, plan)
            _print(await handle.describe())

    run_async(go())


@schedule.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the schedules."""

    async def go() -> None:
        async with connected(ctx, reads_only=True) as client:
            found = [s async for s in await client.list_schedules()]
        if as_json:
            for s in found:
                out.print(dump({"id": s.id, "paused": s.schedule.state.paused,
                                "workflow": s.schedule.action.workflow,
                                "num_actions": s.info.num_actions}))  # fmt: skip
            return
        table = Table("schedule", "workflow", "state", "actions", "next")
        for s in found:
            upcoming = s.info.next_action_times
            table.add_row(
                s.id,
                str(s.schedule.action.workflow),
                "paused" if s.schedule.state.paused else "active",
                str(s.info.num_actions),
                timestamp(upcoming[0]) if upcoming else "-",
            )
        out.print(table)

    run_async(go())


def _on_handle(name: str, doc: str, call: Any, **options: Any) -> click.Command:
    """A command that calls ``call(handle, **options)`` on schedule SCHEDULE_ID."""

    @click.pass_context
    def command(ctx: click.Context, /, schedule_id: str, **given: Any) -> None:
        async def go() -> None:
            async with connected(ctx, reads_only=name == "describe") as client:
                await call(client.get_schedule_handle(schedule_id), **given)

        run_async(go())

    command.__doc__ = doc
    decorated: Any = click.argument("schedule_id")(command)
    for option in options.values():
        decorated = option(decorated)
    return click.command(name=name)(decorated)


async def _describe(handle: Any, as_json: bool) -> None:
    described = await handle.describe()
    if as_json:
        info = described.info
        out.print(dump({"id": described.id, "paused": described.schedule.state.paused,
                        "note": described.schedule.state.note, "num_actions": info.num_actions,
                        "running": [a.workflow_id for a in info.running_actions],
                        "recent": [r.action.workflow_id for r in info.recent_actions],
                        "next": [t.isoformat() for t in info.next_action_times]}))  # fmt: skip
    else:
        _print(described)


async def _trigger(handle: Any, overlap: str | None) -> None:
    await handle.trigger(overlap=ScheduleOverlapPolicy[overlap.upper()] if overlap else None)


async def _backfill(handle: Any, start: str, end: str, overlap: str | None) -> None:
    policy = ScheduleOverlapPolicy[overlap.upper()] if overlap else None
    await handle.backfill(ScheduleBackfill(_moment(start), _moment(end), policy))


def register(group: click.Group) -> None:
    """Add ``turnout schedule`` and its commands to ``group``."""
    note = click.option("--note")
    overlap = click.option("--overlap", type=_OVERLAP)
    commands = [
        _on_handle("describe", "Show schedule SCHEDULE_ID and what it has done.", _describe,
                   as_json=click.option("--json", "as_json", is_flag=True)),
        _on_handle("pause", "Pause schedule SCHEDULE_ID.",
                   lambda h, note: h.pause(note=note), note=note),
        _on_handle("unpause", "Unpause schedule SCHEDULE_ID.",
                   lambda h, note: h.unpause(note=note), note=note),
        _on_handle("trigger", "Act on schedule SCHEDULE_ID once, now.", _trigger, overlap=overlap),
        _on_handle("backfill", "Act on every fire time between --start and --end.", _backfill,
                   start=click.option("--start", required=True, metavar="TIME"),
                   end=click.option("--end", required=True, metavar="TIME"), overlap=overlap),
        _on_handle("delete", "Delete schedule SCHEDULE_ID (its runs go on).", lambda h: h.delete()),
    ]  # fmt: skip
    for command in commands:
        schedule.add_command(command)
    group.add_command(schedule)
