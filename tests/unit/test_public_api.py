"""The public surface is a contract: this list changes only on purpose."""

from __future__ import annotations

import turnout

EXPECTED = [
    "ActivityError", "ActivityNotFoundError", "ApplicationError", "Approval",
    "ApprovalAlreadyDecidedError", "ApprovalNotFoundError", "ApprovalState", "DecisionOutcome",
    "Policy", "PolicyRequest",
    "Verdict", "Artifact", "CancelledError", "ChildWorkflowError", "ConfigurationError",
    "DataConversionError", "ExecutorUnavailableError", "Event", "EventType", "Failure",
    "FailureError", "IdConflictPolicy",
    "IdReusePolicy", "IllegalTransitionError", "NonDeterminismError", "PolicyDecision",
    "RestrictedWorkflowAccessError", "RetryPolicy", "RetryState", "Run", "RunState", "Task",
    "TerminatedError", "TimeoutError",
    "TimeoutType", "TurnoutError", "Worker", "WorkerOptions", "WorkflowAlreadyStartedError",
    "WorkflowAlreadyCompletedError", "WorkflowFailureError", "WorkflowNotFoundError",
    "WorkflowQueryFailedError", "__version__",
    "activity", "connect", "workflow",
]  # fmt: skip


def test_public_names_are_pinned() -> None:
    assert sorted(turnout.__all__) == sorted(EXPECTED)
    for name in EXPECTED:
        assert hasattr(turnout, name), name


def test_authoring_api_mirrors_temporalio_names() -> None:
    names = ["defn", "run", "signal", "query", "execute_activity", "start_activity", "sleep",
             "wait_condition", "execute_child_workflow", "start_child_workflow",
             "continue_as_new", "now", "uuid4", "random", "info", "patched",
             "request_approval"]  # fmt: skip
    for name in names:
        assert callable(getattr(turnout.workflow, name)), name
    assert hasattr(turnout.workflow, "logger")
    for name in ("defn", "heartbeat", "info", "is_cancelled", "logger", "record_artifact"):
        assert hasattr(turnout.activity, name), name


def test_dynamic_definitions_mirror_temporalio_names() -> None:
    import turnout.common

    names = ["set_dynamic_signal_handler", "get_dynamic_signal_handler",
             "set_dynamic_query_handler", "get_dynamic_query_handler",
             "set_dynamic_update_handler", "get_dynamic_update_handler",
             "payload_converter"]  # fmt: skip
    for name in names:
        assert name in turnout.workflow.__all__, name
        assert callable(getattr(turnout.workflow, name)), name
    assert "payload_converter" in turnout.activity.__all__
    assert sorted(turnout.common.__all__) == [
        "RawValue", "RetryPolicy", "SearchAttributeIndexedValueType", "SearchAttributeKey",
        "SearchAttributePair", "SearchAttributeUpdate", "SearchAttributeValues",
        "SearchAttributes", "TypedSearchAttributes", "WorkflowIDConflictPolicy",
        "WorkflowIDReusePolicy",
    ]  # fmt: skip
