"""``turnout approvals | approve | reject | decisions | artifacts``: governance from the shell;
``turnout metrics``: the queue and run figures of the database."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import click
from rich.table import Table

from turnout.cli._context import connected
from turnout.cli._errors import Failed, run_async
from turnout.cli._output import out, timestamp
from turnout.contracts.governance import Approval
from turnout.contracts.records import Artifact, PolicyDecision
from turnout.observability.queue_figures import with_idle_queues

__all__ = ["register"]


def _print_approvals(approvals: Sequence[Approval]) -> None:
    table = Table("workflow id", "type", "approval", "state", "requested", "times out", "details")
    for a in approvals:
        table.add_row(
            a.workflow_id,
            a.workflow_type,
            a.name,
            a.state.value,
            timestamp(a.requested_at),
            timestamp(a.timeout_at),
            " ".join(f"{k}={v}" for k, v in a.details.items()),
        )
    out.print(table)


def _print_decisions(decisions: Sequence[PolicyDecision]) -> None:
    table = Table("decided", "name", "outcome", "by", "reason")
    for d in decisions:
        table.add_row(
            timestamp(d.decided_at), d.name, d.outcome.value, d.decided_by or "", d.reason or ""
        )
    out.print(table)


def _print_artifacts(artifacts: Sequence[Artifact]) -> None:
    table = Table("recorded", "name", "uri", "media type", "size", "digest")
    for a in artifacts:
        size = str(a.size_bytes) if a.size_bytes is not None else ""
        table.add_row(timestamp(a.created_at), a.name, a.uri, a.media_type, size, a.digest or "")
    out.print(table)


@click.command()
@click.option("--type", "workflow_type", help="Only runs of this workflow type.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def approvals(ctx: click.Context, workflow_type: str | None, limit: int, as_json: bool) -> None:
    """List approvals waiting on a decision (this tenant's open runs)."""

    async def go() -> None:
        async with connected(ctx) as client:
            found = await client.list_pending_approvals(workflow_type=workflow_type, limit=limit)
        if as_json:
            for a in found:
                out.print(a.model_dump_json())
        elif not found:
            out.print("no approval is pending")
        else:
            _print_approvals(found)

    run_async(go())


def _decision_command(verb: str, doc: str) -> click.Command:
    """``turnout approve`` / ``turnout reject``: the same command, another verb."""

    @click.command(name=verb, help=doc)
    @click.argument("workflow_id")
    @click.argument("name")
    @click.option("--by", required=True, help="Who decides (recorded with the decision).")
    @click.option("--reason", help="Why (recorded with the decision).")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_context
    def command(ctx: click.Context, workflow_id: str, name: str, by: str, reason: str | None,
                as_json: bool) -> None:  # fmt: skip
        async def go() -> None:
            async with connected(ctx) as client:
                handle = client.get_workflow_handle(workflow_id)
                decision = await getattr(handle, verb)(name, by=by, reason=reason)
            if as_json:
                out.print(decision.model_dump_json())
            else:
                out.print(f"{name}: {decision.outcome.value} by {by} (workflow {workflow_id})")

        run_async(go())

    return command


def _run_records_command(
    name: str, doc: str, read: str, print_table: Callable[[Sequence[Any]], None]
) -> click.Command:
    """A command that lists one kind of a run's records (``handle.<read>()``)."""

    @click.command(name=name, help=doc)
    @click.argument("workflow_id")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
    @click.pass_context
    def command(ctx: click.Context, workflow_id: str, as_json: bool) -> None:
        async def go() -> None:
            async with connected(ctx) as client:
                found = await getattr(client.get_workflow_handle(workflow_id), read)()
            if as_json:
                for record in found:
                    out.print(record.model_dump_json())
            else:
                print_table(found)

        run_async(go())

    return command


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def metrics(ctx: click.Context, as_json: bool) -> None:
    """Print queue depth and lag, leases, dead letters, runs per state and pending approvals
    of this tenant, read from the database (Prometheus text format)."""

    async def go() -> None:
        async with connected(ctx) as client:
            if client.executor != "internal":
                raise Failed(
                    "turnout metrics reads the internal executor's tables; on Temporal use "
                    "the Temporal server's own metrics and `temporal task-queue describe`"
                )
            found = await client.store.figures(client.tenant_id)
            polled = {q.task_queue for q in (await client.status()).queues}
        figures = with_idle_queues(found, polled)  # an idle queue's series at 0
        if as_json:
            for f in figures:
                click.echo(json.dumps({"name": f.name, "labels": f.labels, "value": f.value}))
            return
        described: set[str] = set()
        for f in figures:
            if f.name not in described:
                described.add(f.name)
                click.echo(f"# HELP {f.name} {f.help}")
                click.echo(f"# TYPE {f.name} gauge")
            labels = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(f.labels.items()))
            click.echo(f"{f.name}{{{labels}}} {f.value}" if labels else f"{f.name} {f.value}")

    run_async(go())


def register(group: click.Group) -> None:
    """Add the governance commands and ``turnout metrics`` to ``group``."""
    group.add_command(approvals)
    group.add_command(
        _decision_command("approve", "Approve the pending approval NAME of a run (final).")
    )
    group.add_command(
        _decision_command("reject", "Reject the pending approval NAME of a run (final).")
    )
    group.add_command(
        _run_records_command(
            "decisions",
            "List a run's policy decisions and approval decisions.",
            "policy_decisions",
            _print_decisions,
        )
    )
    group.add_command(
        _run_records_command(
            "artifacts",
            "List the artifacts a run's activities recorded (metadata; the bytes stay at the uri).",
            "artifacts",
            _print_artifacts,
        )
    )
    group.add_command(metrics)
