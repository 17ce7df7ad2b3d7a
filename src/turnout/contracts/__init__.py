"""The executor-independent contracts: states, events, records, retry policy, errors."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from turnout.contracts.async_activity import ActivityNotFoundError
from turnout.contracts.errors import (
    ActivityError,
    ApplicationError,
    ApprovalAlreadyDecidedError,
    ApprovalNotFoundError,
    CancelledError,
    ChildWorkflowError,
    ConfigurationError,
    DataConversionError,
    ExecutorUnavailableError,
    Failure,
    FailureError,
    IllegalTransitionError,
    NonDeterminismError,
    RestrictedWorkflowAccessError,
    RetryState,
    TerminatedError,
    TimeoutError,
    TimeoutType,
    TurnoutError,
    WorkflowAlreadyCompletedError,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
    WorkflowNotFoundError,
    WorkflowQueryFailedError,
    exception_from_failure,
    failure_from_exception,
)
from turnout.contracts.events import COMMAND_EVENT_TYPES, INBOUND_EVENT_TYPES, Event, EventType
from turnout.contracts.executor import ARG_UNSET, Client, WorkerBackend, WorkflowHandle
from turnout.contracts.governance import (
    Approval,
    ApprovalState,
    Policy,
    PolicyRequest,
    Verdict,
    validate_tenant,
)
from turnout.contracts.records import (
    Artifact,
    DecisionOutcome,
    IdConflictPolicy,
    IdReusePolicy,
    PolicyDecision,
    QueueItem,
    QueueItemKind,
    QueueItemState,
    Run,
    Task,
)
from turnout.contracts.retry import RetryPolicy
from turnout.contracts.states import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    RunState,
    can_transition,
    check_transition,
    is_terminal,
)

__all__ = [
    "ACTIVE_STATES",
    "ARG_UNSET",
    "COMMAND_EVENT_TYPES",
    "INBOUND_EVENT_TYPES",
    "TERMINAL_STATES",
    "TRANSITIONS",
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
    "Client",
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
    "QueueItem",
    "QueueItemKind",
    "QueueItemState",
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
    "WorkerBackend",
    "WorkflowAlreadyCompletedError",
    "WorkflowAlreadyStartedError",
    "WorkflowFailureError",
    "WorkflowHandle",
    "WorkflowNotFoundError",
    "WorkflowQueryFailedError",
    "can_transition",
    "check_transition",
    "exception_from_failure",
    "failure_from_exception",
    "is_terminal",
    "json_schema",
    "validate_tenant",
]

_MODELS: dict[str, type[Any]] = {
    "Task": Task,
    "Run": Run,
    "Event": Event,
    "PolicyDecision": PolicyDecision,
    "Artifact": Artifact,
    "Approval": Approval,
    "QueueItem": QueueItem,
    "Failure": Failure,
    "RetryPolicy": RetryPolicy,
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of every contract model, under ``$defs``."""
    defs: dict[str, Any] = {}
    for name, model in _MODELS.items():
        schema = TypeAdapter(model).json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[name] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "turnout contracts",
        "$defs": defs,
    }
