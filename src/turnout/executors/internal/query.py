"""A stored run as a workflow instance: its ``WorkflowInfo``, and the answer of a query.

A worker answers a query (``worker/queries.py``) with :func:`answer_query` on its cached
instance of the run, or with :func:`replay_and_answer` on a fresh instance it gives the
run's history. Either runs on the worker's code thread; the handler runs read-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from turnout.contracts.events import Event
from turnout.executors.internal import codec
from turnout.executors.internal.engine import WorkflowInstance, WorkflowTaskError
from turnout.executors.internal.handlers import handler_args
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.query_records import QueryAnswer
from turnout.workflows._runtime import ParentInfo, WorkflowInfo

__all__ = ["answer_query", "replay_and_answer", "workflow_info"]


def workflow_info(row: Any, *, task_lease: float | None = None) -> WorkflowInfo:
    """The WorkflowInfo of a run row; ``task_lease`` is the seconds of the worker's
    workflow task lease, the run's task timeout unless it has its own."""
    options = row.options or {}
    task_timeout = options.get("task_timeout") or task_lease
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
            timedelta(seconds=options["execution_timeout"])
            if options.get("execution_timeout")
            else None
        ),
        task_timeout=timedelta(seconds=task_timeout) if task_timeout else None,
        cron_schedule=options.get("cron_schedule"),
    )


def answer_query(
    instance: WorkflowInstance,
    name: str,
    args: Sequence[Any],
    header: dict[str, Any] | None = None,
) -> QueryAnswer:
    """The answer of query ``name`` (``args`` encoded) from the handler ``instance`` has
    now: the class's, one its code set, or the dynamic one. A name no handler takes, or
    a handler that raises, is an answer with the error, as Temporal's worker gives."""
    handler = instance.handler_for("query", name)
    if handler is None:
        known = " ".join(instance.handler_names("query"))
        return QueryAnswer(
            error=f"workflow {instance.info.workflow_type} has no query handler {name!r}; "
            f"known queries: [{known}]"
        )
    try:
        value = instance.query(handler, handler_args(handler, name, list(args)), header)
        return QueryAnswer(result=codec.encode(value))
    except Exception as exc:
        return QueryAnswer(error=str(exc) or type(exc).__name__)


def replay_and_answer(
    instance: WorkflowInstance,
    history: Sequence[Event],
    name: str,
    args: Sequence[Any],
    header: dict[str, Any] | None = None,
) -> QueryAnswer:
    """Replay ``history`` on the fresh ``instance``, then answer query ``name`` from it."""
    try:
        instance.advance(history, utcnow())
    except WorkflowTaskError as exc:
        cause = exc.__cause__ or exc
        return QueryAnswer(error=f"replaying the run to answer query {name} failed: {cause}")
    return answer_query(instance, name, args, header)
