"""A stored run as a workflow instance: its ``WorkflowInfo``, and queries answered by replay.

A query on the internal executor needs no worker: :func:`replay_query` replays the
run's history on a fresh :class:`~turnout.executors.internal.engine.WorkflowInstance`
and calls the handler on it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from turnout.contracts.errors import WorkflowQueryFailedError
from turnout.contracts.events import Event
from turnout.executors.internal import codec
from turnout.executors.internal.engine import WorkflowInstance, WorkflowTaskError
from turnout.executors.internal.handlers import handler_args
from turnout.executors.internal.store.base import utcnow
from turnout.workflows._definitions import WorkflowDefinition
from turnout.workflows._runtime import ParentInfo, WorkflowInfo

__all__ = ["replay_query", "workflow_info"]


def workflow_info(row: Any) -> WorkflowInfo:
    """The WorkflowInfo of a run row."""
    return WorkflowInfo(
        workflow_id=row.workflow_id,
        run_id=row.run_id,
        workflow_type=row.workflow_type,
        task_queue=row.task_queue,
        attempt=row.attempt,
        start_time=row.requested_at,
        correlation_id=row.correlation_id,
        tenant_id=row.tenant_id,
        continued_run_id=row.continued_from_run_id,
        parent=ParentInfo(row.parent_workflow_id, row.parent_run_id) if row.parent_run_id else None,
        execution_timeout=(
            timedelta(seconds=row.options["execution_timeout"])
            if row.options and row.options.get("execution_timeout")
            else None
        ),
    )


def replay_query(
    defn: WorkflowDefinition,
    name: str,
    row: Any,
    history: list[Event],
    args: list[Any],
) -> Any:
    """Replay a run's history on a fresh instance and answer the query ``name`` with the
    handler the workflow has then: the class's, or one its code set (any thread)."""
    instance = WorkflowInstance(defn, workflow_info(row), list(row.input))
    try:
        instance.advance(history, utcnow())
        handler = instance.handler_for("query", name)
        if handler is None:
            raise WorkflowQueryFailedError(f"workflow {defn.name} has no query {name!r}")
        value = instance.query(handler, handler_args(handler, name, codec.encode_args(args)))
        return codec.decode(codec.encode(value), handler.return_type)
    except WorkflowQueryFailedError:
        raise
    except WorkflowTaskError as exc:
        raise WorkflowQueryFailedError(f"query {name} failed: {exc.__cause__!r}") from exc
    except Exception as exc:
        raise WorkflowQueryFailedError(f"query {name} failed: {exc!r}") from exc
    finally:
        instance.dispose()
