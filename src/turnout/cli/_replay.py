"""``turnout replay``: the current code over a recorded history, and its first divergence."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from turnout.cli._context import connected, definitions
from turnout.cli._errors import Failed, run_async
from turnout.cli._output import out
from turnout.contracts.events import Event
from turnout.contracts.history import WorkflowHistory

if TYPE_CHECKING:
    from turnout.replay import ReplayResult

__all__ = ["register"]


@click.command()
@click.argument("workflow_id", required=False)
@click.option("--module", "-m", "modules", multiple=True, required=True,
              help="Module(s) with the current workflow code.")  # fmt: skip
@click.option("--from-file", type=click.File("r"), help="History exported with "
              "`turnout events ID --json`, handle.fetch_history().to_json() or "
              "`temporal workflow show --output json`.")  # fmt: skip
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
            return await _replay_file(from_file.read(), workflows)
        async with connected(ctx, workflows, reads_only=True) as client:
            return await replaying.replay_run(client, workflow_id or "", run_id, workflows)

    outcome = run_async(go())
    if outcome.deterministic:
        out.print(f"deterministic: {outcome.summary}")
        return
    raise Failed(f"not deterministic: {outcome.summary}")


async def _replay_file(text: str, workflows: list[type]) -> ReplayResult:
    """Replay an exported history: JSON lines of turnout events, or one JSON document
    (``to_json()``'s, or Temporal's own from ``temporal workflow show --output json``)."""
    from turnout import replay as replaying

    try:
        document = json.loads(text)
    except ValueError:
        document = None  # JSON lines, as turnout events --json writes them
    if not isinstance(document, dict):
        lines = [line for line in text.splitlines() if line.strip()]
        return replaying.replay_events(
            [Event.model_validate_json(line) for line in lines], workflows
        )
    history = WorkflowHistory.from_json(str(document.get("workflow_id", "exported")), document)
    if history.temporal is None:
        return replaying.replay_events(history.events, workflows)
    try:
        result = await replaying.Replayer(workflows=workflows).replay_workflow(
            history, raise_on_replay_failure=False
        )
    except ModuleNotFoundError as exc:
        raise Failed(
            f"replaying a Temporal history needs temporalio ({exc.name} is missing): "
            "pip install 'turnout[temporal]'"
        ) from None
    failure = result.replay_failure
    count = len(history.temporal.get("events", []))
    summary = str(failure) if failure else f"{count} Temporal history events"
    return replaying.ReplayResult(failure is None, summary)


def register(group: click.Group) -> None:
    """Add ``turnout replay`` to ``group``."""
    group.add_command(replay)
