"""turnout: durable workflows on a database queue or on Temporal, written once.

``from turnout import workflow, activity`` gives the authoring API;
``await turnout.connect()`` the client of the configured executor; ``Worker``
runs workflows and activities. ``__all__`` is the public contract.

The names are loaded when first used (PEP 562), so ``import turnout`` costs little:
the authoring API, the contracts (pydantic) and the executors (SQLAlchemy, temporalio)
are imported by what a program uses, not by the package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from turnout import activity, workflow
    from turnout._connect import Worker, connect
    from turnout.contracts import (
        ActivityError,
        ActivityNotFoundError,
        ApplicationError,
        Approval,
        ApprovalAlreadyDecidedError,
        ApprovalNotFoundError,
        ApprovalState,
        Artifact,
        CancelledError,
        ChildWorkflowError,
        ConfigurationError,
        DataConversionError,
        DecisionOutcome,
        Event,
        EventType,
        ExecutorUnavailableError,
        Failure,
        FailureError,
        IdConflictPolicy,
        IdReusePolicy,
        IllegalTransitionError,
        NonDeterminismError,
        Policy,
        PolicyDecision,
        PolicyRequest,
        RestrictedWorkflowAccessError,
        RetryPolicy,
        RetryState,
        Run,
        RunState,
        Task,
        TerminatedError,
        TimeoutError,
        TimeoutType,
        TurnoutError,
        Verdict,
        WorkflowAlreadyCompletedError,
        WorkflowAlreadyStartedError,
        WorkflowFailureError,
        WorkflowNotFoundError,
        WorkflowQueryFailedError,
    )
    from turnout.contracts.worker_options import WorkerOptions

__version__ = "0.1.0"

__all__ = [
    "ActivityError",
    "ActivityNotFoundError",
    "ApplicationError",
    "Approval",
    "ApprovalAlreadyDecidedError",
    "ApprovalNotFoundError",
    "ApprovalState",
    "Artifact",
    "CancelledError",
    "ChildWorkflowError",
    "ConfigurationError",
    "DataConversionError",
    "DecisionOutcome",
    "Event",
    "EventType",
    "ExecutorUnavailableError",
    "Failure",
    "FailureError",
    "IdConflictPolicy",
    "IdReusePolicy",
    "IllegalTransitionError",
    "NonDeterminismError",
    "Policy",
    "PolicyDecision",
    "PolicyRequest",
    "RestrictedWorkflowAccessError",
    "RetryPolicy",
    "RetryState",
    "Run",
    "RunState",
    "Task",
    "TerminatedError",
    "TimeoutError",
    "TimeoutType",
    "TurnoutError",
    "Verdict",
    "Worker",
    "WorkerOptions",
    "WorkflowAlreadyCompletedError",
    "WorkflowAlreadyStartedError",
    "WorkflowFailureError",
    "WorkflowNotFoundError",
    "WorkflowQueryFailedError",
    "__version__",
    "activity",
    "connect",
    "workflow",
]

_HOMES: dict[str, str] = {
    "activity": "turnout.activity",
    "workflow": "turnout.workflow",
    "Worker": "turnout._connect",
    "connect": "turnout._connect",
    "WorkerOptions": "turnout.contracts.worker_options",
}
"""Where each public name lives; the others are in ``turnout.contracts``."""


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it in the package."""
    if name not in __all__ or name == "__version__":
        raise AttributeError(f"module 'turnout' has no attribute {name!r}")
    home = importlib.import_module(_HOMES.get(name, "turnout.contracts"))
    value = home if home.__name__ == f"turnout.{name}" else getattr(home, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
