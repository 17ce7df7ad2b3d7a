"""Run states and the transition table: the run state machine as data.

Each state documents what moves a run into it and what moves it out. The same
table backs the CHECK constraint of the ``turnout_runs`` table and the guarded
``UPDATE`` statements of the internal store, so Python and SQL cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum

from turnout.contracts.errors import IllegalTransitionError

__all__ = [
    "ACTIVE_STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "RunState",
    "WorkflowExecutionStatus",
    "can_transition",
    "check_transition",
    "is_terminal",
]


class RunState(StrEnum):
    """The state of one run of a workflow.

    * ``queued`` - the run was requested; no worker has picked up its first
      workflow task yet. In: start, continue-as-new, retry of a workflow task
      whose lease expired before the run began. Out: a worker claims it.
    * ``claimed`` - a worker holds the lease on the run's first workflow task.
      Out: the workflow code starts (``running``) or the lease expires (back to
      ``queued``).
    * ``running`` - the workflow code has started and the run is not closed.
    * ``waiting_approval`` - the workflow waits on at least one human approval
      (or a policy that requires one). Out: every pending approval is decided.
    * ``completed`` / ``failed`` / ``canceled`` / ``terminated`` / ``timed_out``
      / ``continued_as_new`` - terminal: nothing moves a run out of them.
    """

    QUEUED = "queued"
    CLAIMED = "claimed"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    TERMINATED = "terminated"
    TIMED_OUT = "timed_out"
    CONTINUED_AS_NEW = "continued_as_new"

    @property
    def is_terminal(self) -> bool:
        """True when nothing can move a run out of this state."""
        return self in TERMINAL_STATES

    @property
    def execution_status(self) -> WorkflowExecutionStatus:
        """The state as Temporal reports it: every open state is ``RUNNING``."""
        return _EXECUTION_STATUS.get(self, WorkflowExecutionStatus.RUNNING)


class WorkflowExecutionStatus(IntEnum):
    """A run's status in Temporal's terms (``temporalio.client.WorkflowExecutionStatus``,
    same names and numbers). Coarser than :class:`RunState`: a run that is queued,
    claimed, running or waiting on an approval is ``RUNNING``."""

    RUNNING = 1
    COMPLETED = 2
    FAILED = 3
    CANCELED = 4
    TERMINATED = 5
    CONTINUED_AS_NEW = 6
    TIMED_OUT = 7


_EXECUTION_STATUS: dict[RunState, WorkflowExecutionStatus] = {
    RunState.COMPLETED: WorkflowExecutionStatus.COMPLETED,
    RunState.FAILED: WorkflowExecutionStatus.FAILED,
    RunState.CANCELED: WorkflowExecutionStatus.CANCELED,
    RunState.TERMINATED: WorkflowExecutionStatus.TERMINATED,
    RunState.CONTINUED_AS_NEW: WorkflowExecutionStatus.CONTINUED_AS_NEW,
    RunState.TIMED_OUT: WorkflowExecutionStatus.TIMED_OUT,
}


TERMINAL_STATES: frozenset[RunState] = frozenset(
    {
        RunState.COMPLETED,
        RunState.FAILED,
        RunState.CANCELED,
        RunState.TERMINATED,
        RunState.TIMED_OUT,
        RunState.CONTINUED_AS_NEW,
    }
)
ACTIVE_STATES: frozenset[RunState] = frozenset(set(RunState) - TERMINAL_STATES)

_CLOSE = frozenset(
    {
        RunState.COMPLETED,
        RunState.FAILED,
        RunState.CANCELED,
        RunState.TERMINATED,
        RunState.TIMED_OUT,
        RunState.CONTINUED_AS_NEW,
    }
)

TRANSITIONS: Mapping[RunState, frozenset[RunState]] = {
    # A queued run can be canceled, terminated or time out before any worker
    # sees it; ``running`` directly covers executors without a claim step.
    RunState.QUEUED: frozenset(
        {
            RunState.CLAIMED,
            RunState.RUNNING,
            RunState.CANCELED,
            RunState.TERMINATED,
            RunState.TIMED_OUT,
            RunState.FAILED,
        }
    ),
    RunState.CLAIMED: frozenset({RunState.QUEUED, RunState.RUNNING} | _CLOSE),
    RunState.RUNNING: frozenset({RunState.WAITING_APPROVAL} | _CLOSE),
    RunState.WAITING_APPROVAL: frozenset({RunState.RUNNING} | _CLOSE),
    **{state: frozenset() for state in TERMINAL_STATES},
}


def is_terminal(state: RunState | str) -> bool:
    """True when ``state`` is final."""
    return RunState(state) in TERMINAL_STATES


def can_transition(source: RunState | str, target: RunState | str) -> bool:
    """True when the table allows moving from ``source`` to ``target``."""
    return RunState(target) in TRANSITIONS[RunState(source)]


def check_transition(source: RunState | str, target: RunState | str) -> RunState:
    """Return ``target`` as a :class:`RunState`, or raise :class:`IllegalTransitionError`."""
    src, dst = RunState(source), RunState(target)
    if dst not in TRANSITIONS[src]:
        raise IllegalTransitionError(src.value, dst.value)
    return dst


def sources_of(target: RunState | str) -> frozenset[RunState]:
    """Every state from which ``target`` may be entered (used for SQL guards)."""
    dst = RunState(target)
    return frozenset(src for src, targets in TRANSITIONS.items() if dst in targets)
