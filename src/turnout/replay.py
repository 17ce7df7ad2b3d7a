"""Replay: re-run the current workflow code over a recorded history, on either executor.

A history recorded by the internal executor carries every input and result, so it
replays offline (``turnout events ID --json > history.json``, then
``turnout replay --from-file history.json``); a Temporal run is replayed with
temporalio's replayer against the history the server keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from turnout.contracts.errors import ConfigurationError, NonDeterminismError
from turnout.contracts.events import Event, EventType
from turnout.workflows._definitions import WorkflowDefinition
from turnout.workflows._dynamic import lookup

__all__ = ["ReplayResult", "replay_events", "replay_run"]


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of a replay."""

    deterministic: bool
    summary: str
    """What was replayed, or the first divergence (event seq, recorded, produced)."""


def _definition(workflow_type: str, workflows: Sequence[type]) -> WorkflowDefinition:
    defns = {d.name: d for d in map(WorkflowDefinition.must_from_class, workflows)}
    found = lookup(defns, workflow_type)  # a dynamic workflow replays any other type
    if found is not None:
        return found
    names = sorted(defns)
    raise ConfigurationError(
        f"workflow type {workflow_type!r} is not among the loaded workflows {names}; "
        "pass the module that defines it with --module"
    )


def replay_events(events: Sequence[Event], workflows: Sequence[type]) -> ReplayResult:
    """Replay an internal-executor history (its contract events) with the given code."""
    from turnout.executors.internal.engine import WorkflowInstance, WorkflowTaskError
    from turnout.workflows._runtime import WorkflowInfo

    if not events or events[0].type is not EventType.WORKFLOW_STARTED:
        raise ConfigurationError("a history starts with its workflow_started event")
    first = events[0]
    attrs = first.attributes
    if "input" not in attrs:
        raise ConfigurationError(
            "this history carries no inputs (exported from the Temporal executor?); "
            "replay a Temporal run by its workflow id instead"
        )
    defn = _definition(str(attrs["workflow_type"]), workflows)
    info = WorkflowInfo(
        workflow_id=first.workflow_id,
        run_id=first.run_id,
        workflow_type=defn.name,
        task_queue=str(attrs.get("task_queue", "")),
        attempt=int(attrs.get("attempt", 1)),
        start_time=first.at,
        correlation_id=first.correlation_id,
        tenant_id=first.tenant_id,
    )
    instance = WorkflowInstance(defn, info, list(attrs["input"]))
    try:
        instance.advance(events, events[-1].at, live=False)
    except WorkflowTaskError as exc:
        cause = exc.__cause__ or exc
        if isinstance(cause, NonDeterminismError):
            return ReplayResult(False, str(cause))
        return ReplayResult(False, f"the workflow code raised during replay: {cause!r}")
    finally:
        instance.dispose()
    return ReplayResult(
        True, f"{instance.task_count} workflow tasks, {len(events)} events of {first.workflow_id}"
    )


async def replay_run(
    client: Any, workflow_id: str, run_id: str | None, workflows: Sequence[type]
) -> ReplayResult:
    """Replay a recorded run, fetched through ``client`` (either executor)."""
    if client.executor == "temporal":
        from turnout.executors.temporal import replay_temporal_run

        ok, summary = await replay_temporal_run(client, workflow_id, run_id, workflows)
        return ReplayResult(ok, summary)
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).events()
    return replay_events(history, workflows)
