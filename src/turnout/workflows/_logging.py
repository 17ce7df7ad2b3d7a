"""``workflow.logger``: the logger for workflow code."""

from __future__ import annotations

import logging
from typing import Any

from turnout.workflows._runtime import current_workflow_runtime, in_workflow

__all__ = ["logger"]


class _WorkflowLogger(logging.LoggerAdapter[logging.Logger]):
    """Adds workflow id, run id and correlation id; silent while replaying."""

    def isEnabledFor(self, level: int) -> bool:
        if in_workflow() and current_workflow_runtime().is_replaying():
            return False
        return super().isEnabledFor(level)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        if in_workflow():
            i = current_workflow_runtime().info()
            extra = dict(kwargs.get("extra") or {})
            extra.setdefault("workflow_id", i.workflow_id)
            extra.setdefault("run_id", i.run_id)
            extra.setdefault("correlation_id", i.correlation_id)
            extra.setdefault("attempt", i.attempt)
            # temporalio's record fields, for handlers and formatters written for them.
            details = {
                "attempt": i.attempt,
                "namespace": i.namespace,
                "run_id": i.run_id,
                "task_queue": i.task_queue,
                "workflow_id": i.workflow_id,
                "workflow_type": i.workflow_type,
            }
            update = current_workflow_runtime().current_update_info()
            if update is not None:
                details.update(update_id=update.id, update_name=update.name)
            extra.setdefault("temporal_workflow", details)
            kwargs["extra"] = extra
            msg = f"{msg} ({i.workflow_type} {i.workflow_id} {i.run_id})"
        return msg, kwargs


logger = _WorkflowLogger(logging.getLogger("turnout.workflow"), {})
"""Logger for workflow code: context in every record, nothing logged during replay."""
