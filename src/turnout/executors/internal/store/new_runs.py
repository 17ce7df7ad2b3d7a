"""What a new run is stored as: its ``RunInfo``, its row of ``turnout_runs`` and the
attributes of its ``workflow_started`` event (``core.py`` inserts them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from turnout.contracts.schedule_times import cron_next
from turnout.contracts.states import RunState
from turnout.executors.internal.store.records import NewRun, RunInfo
from turnout.executors.internal.store.sql import run_deadline

__all__ = ["new_run_info", "run_row", "started_attributes"]


def new_run_info(n: NewRun) -> RunInfo:
    """The RunInfo of the run ``n`` creates."""
    p = n.params
    return RunInfo(
        run_id=n.run_id,
        tenant_id=p.tenant_id,
        workflow_id=p.workflow_id,
        workflow_type=p.workflow_type,
        task_queue=p.task_queue,
        correlation_id=n.correlation_id,
        parent_run_id=p.parent[1] if p.parent else None,
        parent_ref=p.parent[2] if p.parent else None,
    )


def _options(n: NewRun) -> dict[str, Any]:
    """The run's options: what its next runs (continue-as-new) and its tasks read."""
    p = n.params
    options: dict[str, Any] = {"execution_timeout": p.execution_timeout}
    if p.run_timeout:
        options["run_timeout"] = p.run_timeout
    if p.task_timeout:
        options["task_timeout"] = p.task_timeout
    if p.parent_close_policy:
        options["parent_close_policy"] = p.parent_close_policy
    if p.cron_schedule:
        options["cron_schedule"] = p.cron_schedule
    return options


def run_row(n: NewRun, info: RunInfo, now: datetime) -> dict[str, Any]:
    """The queued run's row of ``turnout_runs``."""
    p = n.params
    return {
        "run_id": info.run_id,
        "task_id": n.task_id,
        "tenant_id": p.tenant_id,
        "workflow_id": p.workflow_id,
        "workflow_type": p.workflow_type,
        "task_queue": p.task_queue,
        "correlation_id": n.correlation_id,
        "state": RunState.QUEUED.value,
        "attempt": n.attempt,
        "input": p.input,
        "requested_at": now,
        "updated_at": now,
        # A cron run's time runs from its first task, at the next cron time.
        "execution_deadline": run_deadline(
            cron_next(p.cron_schedule, now) if p.cron_schedule else now,
            p.execution_timeout,
            p.run_timeout,
        ),
        "parent_workflow_id": p.parent[0] if p.parent else None,
        "parent_run_id": info.parent_run_id,
        "parent_ref": info.parent_ref,
        "continued_from_run_id": n.continued_from,
        "options": _options(n),
        "memo": p.memo or None,
        "search_attributes": p.search_attributes or None,
        "next_seq": 2,
    }


def started_attributes(n: NewRun) -> dict[str, Any]:
    """The attributes of the run's ``workflow_started`` event (its memo and search
    attributes only when it has them, as Temporal's history)."""
    p = n.params
    started: dict[str, Any] = {
        "workflow_type": p.workflow_type,
        "task_queue": p.task_queue,
        "input": p.input,
        "attempt": n.attempt,
        "continued_from_run_id": n.continued_from,
    }
    if p.parent:
        started["parent_workflow_id"], started["parent_run_id"], _ = p.parent
    if p.memo:
        started["memo"] = p.memo
    if p.search_attributes:
        started["search_attributes"] = p.search_attributes
    if p.header:
        started["header"] = p.header
    return started


def signal_attributes(name: str, args: list[Any], header: dict[str, Any] | None) -> dict[str, Any]:
    """The attributes of a ``signal_received`` event (its header only when it has one)."""
    return {"name": name, "args": args, **({"header": header} if header else {})}
