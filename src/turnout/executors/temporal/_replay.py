"""Replaying a Temporal run's history with the current turnout workflow code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import temporalio.client
import temporalio.workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from turnout.contracts.errors import NonDeterminismError
from turnout.executors.temporal._client import TemporalClient
from turnout.executors.temporal._definitions import ensure_workflow, install
from turnout.executors.temporal._governance import ADMISSION_ACTIVITY
from turnout.executors.temporal._history import local_activity_type
from turnout.executors.temporal._interceptors import worker_chain
from turnout.executors.temporal._runtime import TurnoutInterceptor
from turnout.executors.temporal._worker import sandbox_runner

__all__ = ["replay_temporal_history", "replay_temporal_run"]


async def replay_temporal_run(
    client: TemporalClient, workflow_id: str, run_id: str | None, workflows: Sequence[type]
) -> tuple[bool, str]:
    """(deterministic?, summary or the replayer's failure) for a run Temporal recorded."""
    history = await client.raw.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    failure = await replay_temporal_history(
        workflow_id, history.to_json_dict(), workflows, client=client
    )
    if failure is not None:
        return False, str(failure)
    return True, f"{len(history.events)} history events of {workflow_id}"


async def replay_temporal_history(
    workflow_id: str,
    document: Mapping[str, Any],
    workflows: Sequence[type],
    *,
    client: TemporalClient | None = None,
    interceptors: Sequence[object] = (),
) -> Exception | None:
    """The failure replaying Temporal's history ``document`` with ``workflows`` meets (a
    NonDeterminismError when the code no longer matches), or None when it replays."""
    install()
    for cls in workflows:
        ensure_workflow(cls)
    history = temporalio.client.WorkflowHistory.from_json(workflow_id, dict(document))
    # turnout's own local activity asks start policies: a run they admitted replays with it.
    admitted = any(local_activity_type(e) == ADMISSION_ACTIVITY for e in history.events)
    replayer = Replayer(
        workflows=list(workflows),
        interceptors=worker_chain(
            [TurnoutInterceptor(client, admits=admitted)], worker=interceptors
        ),
        data_converter=pydantic_data_converter,
        workflow_runner=sandbox_runner(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    failure = result.replay_failure
    if isinstance(failure, temporalio.workflow.NondeterminismError):
        return NonDeterminismError(str(failure))
    return failure
