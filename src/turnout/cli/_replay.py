"""``turnout replay``: the current code over a recorded history, and its first divergence."""

from __future__ import annotations

from typing import Any

import click

from turnout.cli._context import connected, definitions
from turnout.cli._errors import Failed, run_async
from turnout.cli._output import out
from turnout.contracts.events import Event

__all__ = ["register"]


@click.command()
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
    workflows, _ = definitions(modules)

    async def go() -> replaying.ReplayResult:
        if from_file is not None:
            history = [Event.model_validate_json(line) for line in from_file if line.strip()]
            return replaying.replay_events(history, workflows)
        async with connected(ctx, workflows, reads_only=True) as client:
            return await replaying.replay_run(client, workflow_id or "", run_id, workflows)

    outcome = run_async(go())
    if outcome.deterministic:
        out.print(f"deterministic: {outcome.summary}")
        return
    raise Failed(f"not deterministic: {outcome.summary}")


def register(group: click.Group) -> None:
    """Add ``turnout replay`` to ``group``."""
    group.add_command(replay)
