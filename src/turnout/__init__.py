"""turnout: durable workflows on a database queue or on Temporal, written once."""

from turnout.contracts import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    ConfigurationError,
    Event,
    EventType,
    IdConflictPolicy,
    IdReusePolicy,
    NonDeterminismError,
    RetryPolicy,
    Run,
    RunState,
    TerminatedError,
    TimeoutError,
    TimeoutType,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
    WorkflowNotFoundError,
)

__version__ = "0.1.0"
