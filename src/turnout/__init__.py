"""turnout: durable workflows on a database queue or on Temporal, written once.

``from turnout import workflow, activity`` gives the authoring API;
``await turnout.connect()`` the client of the configured executor; ``Worker``
runs workflows and activities. ``__all__`` is the public contract.
"""

from turnout._connect import Worker, connect
from turnout.contracts import (
    ActivityError,
    ApplicationError,
    Artifact,
    CancelledError,
    ChildWorkflowError,
    ConfigurationError,
    Event,
    EventType,
    Failure,
    FailureError,
    IdConflictPolicy,
    IdReusePolicy,
    IllegalTransitionError,
    NonDeterminismError,
    PolicyDecision,
    RetryPolicy,
    RetryState,
    Run,
    RunState,
    Task,
    TerminatedError,
    TimeoutError,
    TimeoutType,
    TurnoutError,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
    WorkflowNotFoundError,
    WorkflowQueryFailedError,
)
from turnout.workflows import activity, workflow

__version__ = "0.1.0"

__all__ = [
    "ActivityError",
    "ApplicationError",
    "Artifact",
    "CancelledError",
    "ChildWorkflowError",
    "ConfigurationError",
    "Event",
    "EventType",
    "Failure",
    "FailureError",
    "IdConflictPolicy",
    "IdReusePolicy",
    "IllegalTransitionError",
    "NonDeterminismError",
    "PolicyDecision",
    "RetryPolicy",
    "RetryState",
    "Run",
    "RunState",
    "Task",
    "TerminatedError",
    "TimeoutError",
    "TimeoutType",
    "TurnoutError",
    "Worker",
    "WorkflowAlreadyStartedError",
    "WorkflowFailureError",
    "WorkflowNotFoundError",
    "WorkflowQueryFailedError",
    "__version__",
    "activity",
    "connect",
    "workflow",
]
