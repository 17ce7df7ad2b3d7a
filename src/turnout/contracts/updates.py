"""Updates: a request to a running workflow that its code validates, accepts or rejects,
and answers with a result, as ``temporalio``'s updates.

The caller waits for the stage it asked for (:class:`WorkflowUpdateStage`); a rejected or
failed update raises :class:`WorkflowUpdateFailedError` whose ``cause`` says why. Every
executor's handle offers ``execute_update``, ``start_update`` and ``get_update_handle``,
and returns a :class:`WorkflowUpdateHandle`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum, StrEnum
from typing import Any, Protocol, runtime_checkable

from turnout.contracts.errors import TurnoutError

__all__ = [
    "UpdateInfo",
    "UpdateNotFoundError",
    "UpdateState",
    "WorkflowUpdateFailedError",
    "WorkflowUpdateHandle",
    "WorkflowUpdateStage",
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
