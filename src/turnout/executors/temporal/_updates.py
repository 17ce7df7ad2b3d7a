"""Updates on the Temporal executor: turnout's update calls and handle on temporalio's,
with the errors converted to turnout's classes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pydantic_core
import temporalio.client
import temporalio.service

from turnout.contracts import errors as te
from turnout.contracts.executor import ARG_UNSET, call_args
from turnout.contracts.updates import (
    UpdateNotFoundError,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
    check_stage,
)
from turnout.executors.temporal._errors import to_turnout
from turnout.workflows._definitions import update_name

__all__ = ["TemporalWorkflowUpdateHandle", "send_update", "update_with_start"]


class TemporalWorkflowUpdateHandle:
    """A handle on one update (``turnout.contracts.WorkflowUpdateHandle``)."""

    def __init__(self, raw: temporalio.client.WorkflowUpdateHandle[Any]) -> None:
        self._raw = raw

    @property
    def id(self) -> str:
        """The update id."""
        return self._raw.id

    @property
    def workflow_id(self) -> str:
        """The workflow id the update was sent to."""
        return self._raw.workflow_id

    @property
    def workflow_run_id(self) -> str | None:
        """The run the update was sent to."""
        return self._raw.workflow_run_id

    async def result(self, *, timeout: timedelta | None = None) -> Any:
        """Wait for the update to complete; its result, or WorkflowUpdateFailedError."""
        try:
            return await self._raw.result(rpc_timeout=timeout)
        except temporalio.client.WorkflowUpdateFailedError as exc:
            raise _failed(exc)
        except temporalio.service.RPCError as exc:
            raise converted(exc, self.workflow_id, self.workflow_run_id, self.id) from exc


def _failed(exc: temporalio.client.WorkflowUpdateFailedError) -> WorkflowUpdateFailedError:
    error = WorkflowUpdateFailedError(cause=to_turnout(exc.cause))
    error.__suppress_context__ = True
    return error


def converted(
    exc: temporalio.service.RPCError, workflow_id: str, run_id: str | None, update_id: str
) -> BaseException:
    """An RPC error of an update call in turnout's terms."""
    if exc.status is temporalio.service.RPCStatusCode.NOT_FOUND:
        if "already completed" in exc.message:
            return te.WorkflowAlreadyCompletedError(workflow_id, run_id)
        if "update" in exc.message.lower():
            return UpdateNotFoundError(workflow_id, update_id)
        return te.WorkflowNotFoundError(workflow_id, run_id)
    return exc


async def send_update(
    raw: temporalio.client.WorkflowHandle[Any, Any],
    update: str | Callable[..., Any],
    arg: Any,
    *,
    args: Sequence[Any],
    id: str | None,
    wait_for_stage: WorkflowUpdateStage,
    result_type: Any,
) -> TemporalWorkflowUpdateHandle:
    """Send an update through temporalio and wait for ``wait_for_stage``."""
    check_stage(wait_for_stage)
    name = update_name(update)
    try:
        handle = await raw.start_update(
            update if callable(update) else name,  # type: ignore[arg-type]
            args=call_args(arg, args),
            id=id,
            wait_for_stage=temporalio.client.WorkflowUpdateStage(int(wait_for_stage)),
            result_type=result_type,
        )
    except temporalio.client.WorkflowUpdateFailedError as exc:
        raise _failed(exc)
    except pydantic_core.PydanticSerializationError as exc:
        raise te.DataConversionError(f"the arguments of update {name}", exc) from None
    except temporalio.service.RPCError as exc:
        raise converted(exc, raw.id, raw.run_id, id or "") from exc
    return TemporalWorkflowUpdateHandle(handle)


async def update_with_start(
    client: temporalio.client.Client,
    update: str | Callable[..., Any],
    arg: Any,
    operation: temporalio.client.WithStartWorkflowOperation[Any, Any],
    *,
    args: Sequence[Any],
    id: str | None,
    wait_for_stage: WorkflowUpdateStage,
    result_type: Any,
) -> TemporalWorkflowUpdateHandle:
    """Temporal's update-with-start, with turnout's stages and errors."""
    check_stage(wait_for_stage)
    name = update_name(update)
    try:
        handle = await client.start_update_with_start_workflow(
            update if callable(update) else name,  # type: ignore[arg-type]
            *([] if arg is ARG_UNSET else [arg]),
            start_workflow_operation=operation,
            args=list(args),
            id=id,
            wait_for_stage=temporalio.client.WorkflowUpdateStage(int(wait_for_stage)),
            result_type=result_type,
        )
    except temporalio.client.WorkflowUpdateFailedError as exc:
        raise _failed(exc)
    except pydantic_core.PydanticSerializationError as exc:
        raise te.DataConversionError(f"the arguments of update {name}", exc) from None
    return TemporalWorkflowUpdateHandle(handle)
