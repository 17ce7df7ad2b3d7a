"""Admission: the worker's policies, asked before a run starts and before each activity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from turnout.contracts.errors import ApplicationError, Failure, failure_from_exception
from turnout.contracts.governance import (
    APPROVAL_REQUIRED,
    POLICY_DENIED,
    START_GATE,
    Policy,
    PolicyRequest,
    consult,
    decision_on,
)
from turnout.contracts.records import DecisionOutcome, PolicyDecision
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.engine import WorkflowInstance
from turnout.executors.internal.store import ClaimedItem, Store
from turnout.executors.internal.store.base import utcnow
from turnout.workflows._runtime import ActivityInfo

__all__ = ["Admission", "start_gate"]


class Admission:
    """Asks ``policies`` and records what they decided."""

    def __init__(self, store: Store, policies: Sequence[Policy]) -> None:
        self._store = store
        self.policies = list(policies)

    def __bool__(self) -> bool:
        return bool(self.policies)

    async def admit_run(
        self, row: Any, instance: WorkflowInstance
    ) -> tuple[PolicyDecision, list[cmd.Command] | None]:
        """Ask the policies whether the run may start (its first workflow task).

        Returns the decision, and the commands that replace the workflow code when the
        start is denied (None otherwise). A start held for an approval keeps the code from
        starting until the approval is decided (see ``WorkflowInstance.hold_start``).
        """
        request = PolicyRequest(
            kind="workflow",
            name=row.workflow_type,
            workflow_id=row.workflow_id,
            run_id=row.run_id,
            workflow_type=row.workflow_type,
            tenant_id=row.tenant_id,
            task_queue=row.task_queue,
            attempt=row.attempt,
            args=list(row.input),
        )
        verdict, by = await consult(self.policies, request)
        attributes: dict[str, Any] = {"kind": "workflow", "workflow_type": row.workflow_type}
        if verdict.outcome is DecisionOutcome.REQUIRE_APPROVAL:
            attributes["approval"] = verdict.approval or row.workflow_type
            attributes["timeout"] = verdict.timeout.total_seconds() if verdict.timeout else None
            instance.hold_start(attributes["approval"])
        decision = decision_on(
            request,
            verdict.outcome,
            policy=by,
            reason=verdict.reason,
            attributes=attributes,
            decided_at=utcnow(),
        )
        if verdict.outcome is not DecisionOutcome.DENY:
            return decision, None
        error = ApplicationError(
            verdict.reason or f"workflow {row.workflow_type} denied by policy {by}",
            type=POLICY_DENIED,
            non_retryable=True,
        )
        return decision, [cmd.FailWorkflow(failure_from_exception(error, with_stack=False))]

    async def admit_activity(self, item: ClaimedItem, info: ActivityInfo) -> Failure | None:
        """Ask the policies about this attempt and record their decision.

        Returns the failure that ends the activity (denied, or held for an approval),
        or None to run it. A policy that raises fails the attempt, under its retry policy.
        """
        request = PolicyRequest(
            kind="activity",
            name=info.activity_type,
            workflow_id=item.workflow_id,
            run_id=item.run_id,
            workflow_type=info.workflow_type,
            tenant_id=item.tenant_id,
            task_queue=item.task_queue,
            attempt=item.attempt,
            args=list(item.activity.input),
        )
        try:
            verdict, by = await consult(self.policies, request)
        except Exception as exc:
            return failure_from_exception(exc)
        outcome, reason = verdict.outcome, verdict.reason
        attributes: dict[str, Any] = {
            "kind": "activity",
            "activity_type": info.activity_type,
            "activity_id": info.activity_id,
            "attempt": item.attempt,
        }
        approval = verdict.approval or info.activity_type
        if outcome is DecisionOutcome.REQUIRE_APPROVAL:
            attributes["approval"] = approval
            granted = await self._store.granted_approval(item.tenant_id, item.run_id, approval)
            if granted is not None:
                outcome = DecisionOutcome.ALLOW
                reason = f"approval {approval!r} granted by {granted.decided_by}"
        decision = decision_on(
            request, outcome, policy=by, reason=reason, attributes=attributes, decided_at=utcnow()
        )
        await self._store.record_policy_decision(item, decision)
        if outcome is DecisionOutcome.DENY:
            error = ApplicationError(
                reason or f"activity {info.activity_type} denied by policy {by}",
                type=POLICY_DENIED,
                non_retryable=True,
            )
        elif outcome is DecisionOutcome.REQUIRE_APPROVAL:
            timeout = verdict.timeout.total_seconds() if verdict.timeout else None
            error = ApplicationError(
                f"activity {info.activity_type} needs approval {approval!r}: {reason}",
                {"approval": approval, "reason": reason, "timeout": timeout},
                type=APPROVAL_REQUIRED,
                non_retryable=True,
            )
        else:
            return None
        return failure_from_exception(error, with_stack=False)


def start_gate(decision: PolicyDecision) -> cmd.RequestApproval:
    """The approval a start policy holds a run on."""
    attrs = decision.attributes
    return cmd.RequestApproval(
        name=str(attrs["approval"]),
        details={"workflow_type": attrs["workflow_type"], "reason": decision.reason},
        timeout=attrs.get("timeout"),
        gate=START_GATE,
    )
