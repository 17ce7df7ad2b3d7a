"""Handles to other workflows from workflow code: ``workflow.get_external_workflow_handle``
and its typed form, as in temporalio.

A handle names a workflow by id (and, optionally, one run of it); awaiting its
``signal`` or ``cancel`` sends the message durably and returns once the target has it.
``turnout.workflow`` re-exports these; they forward to the runtime of the executor that
runs the code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from turnout.contracts.executor import ARG_UNSET, call_args
from turnout.contracts.limits import check_name
from turnout.workflows._definitions import signal_name
from turnout.workflows._runtime import current_workflow_runtime

__all__ = [
    "ExternalWorkflowHandle",
    "get_external_workflow_handle",
    "get_external_workflow_handle_for",
]

SelfT = TypeVar("SelfT")


class ExternalWorkflowHandle(Generic[SelfT]):
    """A handle to another workflow, made by :func:`get_external_workflow_handle` or
    :func:`get_external_workflow_handle_for`.

    Without a ``run_id`` it addresses the workflow id's latest run. When the target
    cannot be found, the awaited call raises ``ApplicationError`` of type
    ``ExternalWorkflowExecutionNotFound``, as on Temporal.
    """

    def __init__(self, workflow_id: str, run_id: str | None = None) -> None:
        self._id = workflow_id
        self._run_id = run_id

    @property
    def id(self) -> str:
        """The workflow id of the target."""
        return self._id

    @property
    def run_id(self) -> str | None:
        """The run of the target, or None for its latest run."""
        return self._run_id

    async def signal(
        self, signal: str | Callable[..., Any], arg: Any = ARG_UNSET, *, args: Sequence[Any] = ()
    ) -> None:
        """Signal the target (by name or by its ``@workflow.signal`` method); returns once
        the target's open run has the signal. A target that is not found, or has closed,
        raises ``ApplicationError`` (type ``ExternalWorkflowExecutionNotFound``)."""
        name = signal_name(signal)
        check_name(name, "a signal name", example="approve")
        await current_workflow_runtime().signal_external_workflow(
            self._id, self._run_id, name, call_args(arg, args)
        )

    async def cancel(self) -> None:
        """Ask the target to cancel; returns once the request is recorded (a target that
        has closed already changes nothing). A workflow id with no run at all raises
        ``ApplicationError`` (type ``ExternalWorkflowExecutionNotFound``)."""
        await current_workflow_runtime().cancel_external_workflow(self._id, self._run_id)


def get_external_workflow_handle(
    workflow_id: str, *, run_id: str | None = None
) -> ExternalWorkflowHandle[Any]:
    """A handle to the workflow ``workflow_id`` (its run ``run_id``, else its latest run),
    to signal or cancel it from workflow code."""
    current_workflow_runtime()  # outside workflow code: NotInWorkflowError, as temporalio
    check_name(workflow_id, "the external workflow id", example="order-42")
    if run_id is not None:
        check_name(run_id, "the external workflow's run_id")
    return ExternalWorkflowHandle(workflow_id, run_id)


def get_external_workflow_handle_for(
    workflow: Callable[[SelfT], Awaitable[Any]] | Callable[[SelfT, Any], Awaitable[Any]],
    workflow_id: str,
    *,
    run_id: str | None = None,
) -> ExternalWorkflowHandle[SelfT]:
    """:func:`get_external_workflow_handle`, typed by the target's ``@workflow.run``
    method (which is used for typing only, as in temporalio)."""
    return get_external_workflow_handle(workflow_id, run_id=run_id)
