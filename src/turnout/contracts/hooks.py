"""The hooks an executor's worker calls as it works, in terms every executor shares.

A worker tells its observer (``turnout.observability.Observer``) of claims, the start and
end of workflow tasks and activity attempts, the commands a workflow task is about to
commit, retries, dead letters and expired leases. The observer sees the work through
:class:`ClaimedWork` and the commands through :class:`WorkflowCommand`, never through an
executor's own types, so that observability depends on no executor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

from turnout.contracts.errors import Failure
from turnout.contracts.events import EventType

__all__ = [
    "CLOSING_COMMANDS",
    "ClaimedWork",
    "WorkerHooks",
    "WorkflowCommand",
    "closes_run",
    "with_activity_headers",
]

CLOSING_COMMANDS: frozenset[EventType] = frozenset(
    {
        EventType.WORKFLOW_COMPLETED,
        EventType.WORKFLOW_FAILED,
        EventType.WORKFLOW_CANCELED,
        EventType.WORKFLOW_CONTINUED_AS_NEW,
    }
)
"""The event types of the commands with which workflow code closes its run."""


class ClaimedWork(Protocol):
    """A workflow task or an activity attempt a worker took."""

    @property
    def kind(self) -> str:
        """``workflow_task``, ``activity_task``, ..."""
        ...

    @property
    def workflow_id(self) -> str:
        """The workflow id of the run the work belongs to."""
        ...

    @property
    def run_id(self) -> str:
        """The run the work belongs to."""
        ...

    @property
    def task_queue(self) -> str:
        """The task queue the work was claimed from."""
        ...

    @property
    def name(self) -> str | None:
        """The activity type (or workflow type) when known at claim time."""
        ...

    @property
    def attempt(self) -> int:
        """The attempt, from 1."""
        ...

    @property
    def payload(self) -> Mapping[str, Any]:
        """What the work carries; an activity's ``headers`` (correlation id, trace
        context) among it."""
        ...


class WorkflowCommand(Protocol):
    """A command of workflow code, known by the event it records."""

    @property
    def event_type(self) -> EventType:
        """The event the command records on the run's timeline."""
        ...


_C = TypeVar("_C")


def closes_run(commands: Sequence[Any]) -> bool:
    """True when one of ``commands`` closes its run (complete, fail, cancel, continue)."""
    return any(getattr(c, "event_type", None) in CLOSING_COMMANDS for c in commands)


def with_activity_headers(commands: Sequence[_C], headers: Mapping[str, str]) -> list[_C]:
    """``commands`` with ``headers`` added to those that schedule an activity (a dataclass
    with a ``headers`` field); the others unchanged."""
    out: list[_C] = []
    for c in commands:
        if getattr(c, "event_type", None) == EventType.ACTIVITY_SCHEDULED and (
            dataclasses.is_dataclass(c) and not isinstance(c, type)
        ):
            own: Mapping[str, str] = getattr(c, "headers", None) or {}
            c = dataclasses.replace(c, headers={**own, **headers})
        out.append(c)
    return out


class WorkerHooks(Protocol):
    """What a worker calls on its observer; every hook returns quickly and never raises
    into the worker (``turnout.observability`` guards them)."""

    def attach(self, worker: Any) -> None:
        """The worker started."""

    def detach(self, worker: Any) -> None:
        """The worker stopped."""

    def claimed(self, item: ClaimedWork) -> None:
        """The worker took ``item``."""

    def workflow_task_began(self, item: ClaimedWork) -> None:
        """A workflow task starts, before its run is read."""

    def workflow_task_loaded(self, info: Any) -> None:
        """The run of the workflow task in progress was read (a ``WorkflowInfo``)."""

    def workflow_task_failed(self, error: BaseException) -> None:
        """The workflow code failed or contradicted its history."""

    def scheduling(self, commands: Sequence[Any]) -> list[Any]:
        """The commands about to be committed, as they are to be committed."""
        ...

    def workflow_task_committed(self, commands: Sequence[Any]) -> None:
        """The workflow task's commands were committed."""

    def workflow_task_ended(self, error: BaseException | None) -> None:
        """The workflow task is over (``error``: it crashed)."""

    def activity_began(self, item: ClaimedWork) -> None:
        """An activity attempt starts."""

    def activity_running(self, info: Any) -> None:
        """The activity's code is about to run (an ``ActivityInfo``)."""

    def activity_failed(self, failure: Failure) -> None:
        """The activity attempt failed."""

    def activity_ended(self, error: BaseException | None) -> None:
        """The activity attempt is over (``error``: recording its outcome crashed)."""

    def retried(self, item: ClaimedWork) -> None:
        """A failed activity attempt was put back for another attempt."""

    def dead_lettered(self, item: ClaimedWork) -> None:
        """An activity ran out of retries: its item is dead."""

    def lease_expired(self, item: ClaimedWork) -> None:
        """The reaper found ``item``'s lease expired."""

    def quarantined(self, kind: str, reason: str) -> None:
        """Maintenance set aside an item (``kind``) or a run (``"run"``) it could not handle."""
