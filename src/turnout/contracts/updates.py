"""Updates: a request to a running workflow that its code validates, accepts or rejects,
and answers with a result, as ``temporalio``'s updates.

The caller waits for the stage it asked for (:class:`WorkflowUpdateStage`); a rejected or
failed update raises :class:`WorkflowUpdateFailedError` whose ``cause`` says why. Every
executor's handle offers ``execute_update``, ``start_update`` and ``get_update_handle``,
and returns a :class:`WorkflowUpdateHandle`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from turnout.contracts.calls import ARG_UNSET, call_args
from turnout.contracts.errors import TurnoutError
from turnout.contracts.records import IdConflictPolicy, IdReusePolicy
from turnout.contracts.retry import RetryPolicy

if TYPE_CHECKING:
    from turnout.contracts.executor import Client, WorkflowHandle

__all__ = [
    "UpdateCalls",
    "UpdateInfo",
    "UpdateNotFoundError",
    "UpdateState",
    "WithStartWorkflowOperation",
    "WorkflowUpdateFailedError",
    "WorkflowUpdateHandle",
    "WorkflowUpdateStage",
    "check_stage",
    "start_update_with_start",
]


class WorkflowUpdateStage(IntEnum):
    """How far an update must have gone before ``start_update`` returns (temporalio's names
    and numbers). ``ADMITTED`` is not offered: wait for ``ACCEPTED`` or ``COMPLETED``."""

    ADMITTED = 1
    ACCEPTED = 2
    COMPLETED = 3


class UpdateState(StrEnum):
    """Where an update request stands on the internal executor (``turnout_updates``).

    * ``requested`` - a client sent it; no workflow task has decided it yet. Out: a
      workflow task accepts or rejects it, or the run closes first (``completed`` with a
      failure).
    * ``accepted`` - the validator passed and the handler runs (``workflow_update_accepted``).
      Out: the handler returns or raises (``completed``), or the run closes first.
    * ``rejected`` - the validator raised, or the workflow has no handler of that name.
    * ``completed`` - the handler's result or failure is recorded
      (``workflow_update_completed``).
    """

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    COMPLETED = "completed"


class WorkflowUpdateFailedError(TurnoutError):
    """The workflow rejected the update (its validator raised, or it has no handler of that
    name) or the handler failed; ``cause`` is the ApplicationError saying why."""

    def __init__(self, *, cause: BaseException) -> None:
        super().__init__("Workflow update failed")
        self.__cause__ = cause

    @property
    def cause(self) -> BaseException:
        """Why the update failed (an ApplicationError, or CancelledError)."""
        assert self.__cause__ is not None
        return self.__cause__


def check_stage(stage: WorkflowUpdateStage) -> WorkflowUpdateStage:
    """``stage`` if a caller may wait for it (ACCEPTED or COMPLETED), else a ValueError."""
    if stage not in (WorkflowUpdateStage.ACCEPTED, WorkflowUpdateStage.COMPLETED):
        raise ValueError(
            f"wait_for_stage={stage!r} is not offered: wait for WorkflowUpdateStage.ACCEPTED "
            "or COMPLETED"
        )
    return stage


class UpdateNotFoundError(TurnoutError, LookupError):
    """No update of that id was sent to the run (``update_handle.result()``)."""

    def __init__(self, workflow_id: str, update_id: str) -> None:
        self.workflow_id = workflow_id
        self.update_id = update_id
        super().__init__(
            f"workflow {workflow_id!r} has no update {update_id!r}; check the update id "
            "(start_update and execute_update return it)"
        )


@dataclass(frozen=True)
class UpdateInfo:
    """The update whose handler is running (``workflow.current_update_info()``)."""

    id: str
    """The update id (the caller's, or one turnout made)."""
    name: str
    """The update's name."""


@runtime_checkable
class WorkflowUpdateHandle(Protocol):
    """A handle on one update of one run."""

    @property
    def id(self) -> str:
        """The update id."""
        ...

    @property
    def workflow_id(self) -> str:
        """The workflow id the update was sent to."""
        ...

    @property
    def workflow_run_id(self) -> str | None:
        """The run the update was sent to."""
        ...

    async def result(self, *, timeout: timedelta | None = None) -> Any:
        """Wait for the update to complete; its result, or WorkflowUpdateFailedError."""
        ...


class WithStartWorkflowOperation:
    """The start half of update-with-start (``client.execute_update_with_start_workflow``):
    the workflow to start unless its id is open, as ``temporalio``'s. ``id_conflict_policy``
    is required: ``USE_EXISTING`` sends the update to an open run of the id, ``FAIL``
    refuses one. After the call, :meth:`workflow_handle` gives the run's handle."""

    def __init__(
        self,
        workflow: str | Callable[..., Any],
        arg: Any = ARG_UNSET,
        *,
        args: Sequence[Any] = (),
        id: str,
        task_queue: str,
        id_conflict_policy: IdConflictPolicy,
        id_reuse_policy: IdReusePolicy = IdReusePolicy.ALLOW_DUPLICATE,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        result_type: Any = None,
    ) -> None:
        self.workflow = workflow
        self.args = call_args(arg, args)
        self.id = id
        self.task_queue = task_queue
        self.id_conflict_policy = IdConflictPolicy(id_conflict_policy)
        self.id_reuse_policy = IdReusePolicy(id_reuse_policy)
        self.execution_timeout = execution_timeout
        self.run_timeout = run_timeout
        self.task_timeout = task_timeout
        self.retry_policy = retry_policy
        self.result_type = result_type
        self._handle: asyncio.Future[Any] | None = None

    def _future(self) -> asyncio.Future[Any]:
        if self._handle is None:
            self._handle = asyncio.get_running_loop().create_future()
        return self._handle

    def set_workflow_handle(self, handle: Any) -> None:
        """Record the handle of the run the operation started or used (executors call it)."""
        future = self._future()
        if not future.done():
            future.set_result(handle)

    def set_failure(self, error: BaseException) -> None:
        """Record that the start failed (executors call it)."""
        future = self._future()
        if not future.done():
            future.set_exception(error)

    async def workflow_handle(self) -> WorkflowHandle:
        """The handle of the run the operation started or used, once the call made it."""
        handle: WorkflowHandle = await asyncio.shield(self._future())
        return handle


async def start_update_with_start(
    client: Client,
    update: str | Callable[..., Any],
    arg: Any,
    *,
    start_workflow_operation: WithStartWorkflowOperation,
    wait_for_stage: WorkflowUpdateStage,
    args: Sequence[Any],
    id: str | None,
    result_type: Any,
) -> WorkflowUpdateHandle:
    """Update-with-start from a client's start and a handle's update: start the workflow
    (or use its open run, as the operation's conflict policy says), then send the update.
    A start or an update repeated after a failure finds what the first one made."""
    op = start_workflow_operation
    if op.id_conflict_policy is IdConflictPolicy.TERMINATE_EXISTING:
        raise ValueError(
            "update-with-start takes id_conflict_policy USE_EXISTING or FAIL, not "
            "TERMINATE_EXISTING"
        )
    try:
        handle = await client.start_workflow(
            op.workflow,
            args=op.args,
            id=op.id,
            task_queue=op.task_queue,
            id_conflict_policy=op.id_conflict_policy,
            id_reuse_policy=op.id_reuse_policy,
            execution_timeout=op.execution_timeout,
            run_timeout=op.run_timeout,
            task_timeout=op.task_timeout,
            retry_policy=op.retry_policy,
        )
    except BaseException as exc:
        op.set_failure(exc)
        raise
    op.set_workflow_handle(handle)
    start_update = getattr(handle, "start_update")  # noqa: B009 (every executor's handle has it)
    update_handle: WorkflowUpdateHandle = await start_update(
        update, arg, args=args, id=id, wait_for_stage=wait_for_stage, result_type=result_type
    )
    return update_handle


class UpdateCalls:
    """What every executor's handle shares of updates: ``execute_update`` is its own
    ``start_update`` up to the result."""

    async def execute_update(
        self,
        update: str | Callable[..., Any],
        arg: Any = ARG_UNSET,
        *,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: Any = None,
    ) -> Any:
        """Send an update and wait for its result (WorkflowUpdateFailedError when the
        workflow rejected it or its handler failed)."""
        start_update = getattr(self, "start_update")  # noqa: B009 (each handle defines it)
        handle: WorkflowUpdateHandle = await start_update(
            update,
            arg,
            args=args,
            id=id,
            wait_for_stage=WorkflowUpdateStage.COMPLETED,
            result_type=result_type,
        )
        return await handle.result()
