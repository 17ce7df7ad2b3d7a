"""Governance: human approvals, policy verdicts and tenant ids.

A workflow asks for an approval with ``workflow.request_approval(name)``; the
run is ``waiting_approval`` until someone decides it (``handle.approve`` /
``handle.reject``) or its timeout passes. A worker's *policies* are consulted
before each activity runs; each returns a :class:`Verdict` (allow, deny,
require an approval) and every verdict is recorded as a
:class:`~turnout.contracts.records.PolicyDecision`.
"""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from turnout.contracts.errors import ApplicationError, ConfigurationError
from turnout.contracts.events import Event
from turnout.contracts.limits import InvalidInputError, check_name, check_text
from turnout.contracts.records import DEFAULT_TENANT, Artifact, DecisionOutcome, PolicyDecision

__all__ = [
    "APPROVAL_REJECTED",
    "APPROVAL_REQUIRED",
    "POLICY_DENIED",
    "START_GATE",
    "Approval",
    "ApprovalState",
    "Policy",
    "PolicyRequest",
    "Verdict",
    "approval_requested_attributes",
    "artifact_attributes",
    "artifact_from_event",
    "check_decision",
    "consult",
    "decision_attributes",
    "decision_from_event",
    "decision_on",
    "policy_name",
    "validate_handle",
    "validate_start_keys",
    "validate_task_queue",
    "validate_tenant",
    "validate_workflow_id",
]

POLICY_DENIED = "PolicyDenied"
"""``ApplicationError.type`` of an activity a policy denied (never retried)."""
APPROVAL_REQUIRED = "ApprovalRequired"
"""``ApplicationError.type`` of an activity attempt a policy held for an approval."""
APPROVAL_REJECTED = "ApprovalRejected"
"""``ApplicationError.type`` of an activity whose required approval was rejected or timed out."""


class ApprovalState(StrEnum):
    """``pending`` until decided; then ``approved``, ``rejected`` or ``timed_out`` (final)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"


class Approval(BaseModel):
    """One approval a run asked for: pending, or how it was decided."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    run_id: str
    workflow_type: str = ""
    tenant_id: str = DEFAULT_TENANT
    name: str
    state: ApprovalState
    details: dict[str, Any] = {}
    requested_at: datetime
    timeout_at: datetime | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None


class PolicyRequest(BaseModel):
    """What a policy is asked about: an activity about to run, and its run."""

    model_config = ConfigDict(frozen=True)

    kind: str = "activity"
    name: str
    """The activity type."""
    workflow_id: str
    run_id: str
    workflow_type: str
    tenant_id: str = DEFAULT_TENANT
    task_queue: str
    attempt: int = 1
    args: list[Any] = []
    """The activity's arguments as JSON values."""


class Verdict(BaseModel):
    """A policy's answer. Build one with :meth:`allow`, :meth:`deny` or :meth:`require_approval`."""

    model_config = ConfigDict(frozen=True)

    outcome: DecisionOutcome
    reason: str | None = None
    approval: str | None = None
    """The approval name a ``require_approval`` verdict waits on (default: the activity type)."""
    timeout: timedelta | None = None
    """How long that approval may stay pending before it counts as ``timed_out``."""

    @classmethod
    def allow(cls, reason: str | None = None) -> Verdict:
        """Let the activity run."""
        return cls(outcome=DecisionOutcome.ALLOW, reason=reason)

    @classmethod
    def deny(cls, reason: str) -> Verdict:
        """Fail the activity, without retries, with ``reason``."""
        return cls(outcome=DecisionOutcome.DENY, reason=reason)

    @classmethod
    def require_approval(
        cls, reason: str, *, approval: str | None = None, timeout: timedelta | None = None
    ) -> Verdict:
        """Hold the activity until a person approves ``approval`` for this run."""
        return cls(
            outcome=DecisionOutcome.REQUIRE_APPROVAL,
            reason=reason,
            approval=approval,
            timeout=timeout,
        )


Policy = Callable[[PolicyRequest], "Verdict | Awaitable[Verdict | None] | None"]
"""A callable consulted before each activity; ``None`` means "no opinion" (allow)."""

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PLACEHOLDERS = {"none", "null", "undefined", "changeme", "tenant", "todo", "xxx", "<tenant>"}


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_workflow_id(workflow_id: str) -> str:
    """``workflow_id`` if usable as a workflow id; otherwise an InvalidInputError (a
    ValueError) that says why: 1-255 characters, no control character."""
    return check_name(workflow_id, "a workflow id", example="order-42")


def validate_handle(workflow_id: str, *run_ids: str | None) -> None:
    """Refuse what a workflow handle is made for (``get_workflow_handle``) when it cannot
    name a workflow: a bad workflow id, or a bad run id among ``run_ids`` (None: not
    given), with an InvalidInputError (a ValueError) that says why."""
    validate_workflow_id(workflow_id)
    for run_id in run_ids:
        if run_id is not None:
            check_name(run_id, "a run id")


def validate_start_keys(correlation_id: str | None, idempotency_key: str | None) -> None:
    """Raise an InvalidInputError (a ValueError) that says why when a start's correlation
    id or idempotency key cannot be stored: at most 64 and 255 printable characters."""
    for label, value, limit in (
        ("correlation id", correlation_id, 64),
        ("idempotency key", idempotency_key, 255),
    ):
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or _CONTROL.search(value):
            raise InvalidInputError(f"a {label} must be non-empty printable text, got {value!r}")
        if len(value) > limit:
            raise InvalidInputError(
                f"a {label} has at most {limit} characters, got {len(value)}; "
                "use a shorter one (a hash of a long key, for instance)"
            )
        check_name(value, f"a {label}")


def validate_task_queue(task_queue: str) -> str:
    """``task_queue`` if usable as a task queue name; otherwise an InvalidInputError (a
    ValueError) that says why: 1-255 characters, no control character."""
    return check_name(task_queue, "the task queue", example="orders")


def check_decision(name: str, by: str, reason: str | None) -> None:
    """Refuse an approval decision that cannot be stored (an InvalidInputError, a
    ValueError): the approval name, who decides (``by``, 1-255 printable characters)
    and the free-text reason (no NUL)."""
    check_name(name, "the approval name", example="deploy")
    if not isinstance(by, str) or not by.strip():
        raise InvalidInputError("a decision needs who made it: by='alice'")
    check_name(by, "who decides (by)", example="alice")
    if reason is not None:
        check_text(reason, "the reason")


def validate_tenant(tenant_id: str) -> str:
    """``tenant_id`` if it is a usable tenant id; otherwise a ConfigurationError saying why."""
    if not isinstance(tenant_id, str) or not tenant_id.strip():
        raise ConfigurationError(
            "the tenant id is empty; pass tenant='acme' (letters, digits, '.', '_', '-') "
            "or leave it unset for the 'default' tenant"
        )
    if tenant_id.strip().lower() in _PLACEHOLDERS or "{" in tenant_id or "$" in tenant_id:
        raise ConfigurationError(
            f"the tenant id {tenant_id!r} looks like a placeholder that was never filled in; "
            "set the real tenant id (TURNOUT_TENANT_ID or connect(tenant=...))"
        )
    if not _TENANT.match(tenant_id):
        raise ConfigurationError(
            f"the tenant id {tenant_id!r} is not valid: use 1-128 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit (no spaces)"
        )
    return tenant_id


# -- one shape for the governance events of both executors ---------------------------------


START_GATE = "start"
"""``gate`` attribute of the approval a start policy holds a run on, before its code runs."""


def approval_requested_attributes(
    name: str, details: dict[str, Any], timeout: float | None, *, gate: str | None = None
) -> dict[str, Any]:
    """The attributes of an ``approval_requested`` event (``gate``: held by a start policy)."""
    attributes = {"name": name, "details": details, "timeout": timeout}
    if gate is not None:
        attributes["gate"] = gate
    return attributes


def decision_attributes(decision: PolicyDecision) -> dict[str, Any]:
    """The attributes of an ``approval_decided`` or ``policy_decided`` event."""
    return {
        "decision_id": decision.decision_id,
        "name": decision.name,
        "outcome": decision.outcome.value,
        "decided_by": decision.decided_by,
        "reason": decision.reason,
        "decided_at": decision.decided_at.isoformat(),
        **decision.attributes,
    }


_DECISION_KEYS = {"decision_id", "name", "outcome", "decided_by", "reason", "decided_at"}


def start_refused(workflow_type: str, decision: PolicyDecision) -> ApplicationError:
    """The error that fails a run whose start approval ``decision`` did not approve."""
    by = f" by {decision.decided_by}" if decision.decided_by else ""
    why = f": {decision.reason}" if decision.reason else ""
    return ApplicationError(
        f"{workflow_type} may not start: approval {decision.name!r} was "
        f"{decision.outcome.value}{by}{why}",
        type=APPROVAL_REJECTED,
        non_retryable=True,
    )


def decision_from_event(event: Event) -> PolicyDecision:
    """The decision an ``approval_decided`` or ``policy_decided`` event records."""
    attrs = event.attributes
    return PolicyDecision(
        decision_id=attrs["decision_id"],
        run_id=event.run_id,
        workflow_id=event.workflow_id,
        tenant_id=event.tenant_id,
        name=attrs["name"],
        outcome=DecisionOutcome(attrs["outcome"]),
        decided_by=attrs.get("decided_by"),
        reason=attrs.get("reason"),
        decided_at=datetime.fromisoformat(attrs["decided_at"])
        if attrs.get("decided_at")
        else event.at,
        attributes={k: v for k, v in attrs.items() if k not in _DECISION_KEYS},
    )


def artifact_attributes(artifact: Artifact) -> dict[str, Any]:
    """The attributes of an ``artifact_recorded`` event."""
    return {
        "artifact_id": artifact.artifact_id,
        "name": artifact.name,
        "uri": artifact.uri,
        "media_type": artifact.media_type,
        "size_bytes": artifact.size_bytes,
        "digest": artifact.digest,
        **artifact.attributes,
    }


_ARTIFACT_KEYS = {"artifact_id", "name", "uri", "media_type", "size_bytes", "digest"}


def artifact_from_event(event: Event) -> Artifact:
    """The artifact an ``artifact_recorded`` event records."""
    attrs = event.attributes
    return Artifact(
        artifact_id=attrs["artifact_id"],
        run_id=event.run_id,
        workflow_id=event.workflow_id,
        tenant_id=event.tenant_id,
        name=attrs["name"],
        uri=attrs["uri"],
        media_type=attrs.get("media_type") or "application/octet-stream",
        size_bytes=attrs.get("size_bytes"),
        digest=attrs.get("digest"),
        created_at=event.at,
        attributes={k: v for k, v in attrs.items() if k not in _ARTIFACT_KEYS},
    )


def decision_on(
    request: PolicyRequest,
    outcome: DecisionOutcome,
    *,
    policy: str,
    reason: str | None,
    attributes: dict[str, Any],
    decided_at: datetime,
) -> PolicyDecision:
    """The record of ``policy``'s decision about ``request`` (a new decision id)."""
    return PolicyDecision(
        decision_id=uuid.uuid4().hex,
        run_id=request.run_id,
        workflow_id=request.workflow_id,
        tenant_id=request.tenant_id,
        name=request.name,
        outcome=outcome,
        decided_by=f"policy:{policy}",
        reason=reason,
        decided_at=decided_at,
        attributes=attributes,
    )


def policy_name(policy: Policy) -> str:
    """How a policy is named in the decisions it makes."""
    return str(getattr(policy, "__name__", None) or type(policy).__name__)


async def consult(policies: Sequence[Policy], request: PolicyRequest) -> tuple[Verdict, str]:
    """Ask every policy; the first ``deny`` wins, then the first ``require_approval``.

    Returns the verdict and the name of the policy that gave it (``allow`` with no
    opinion from any policy is attributed to ``"policies"``).
    """
    held: tuple[Verdict, str] | None = None
    allowed: tuple[Verdict, str] | None = None
    for policy in policies:
        answer = policy(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if answer is None:
            continue
        if not isinstance(answer, Verdict):
            raise TypeError(
                f"policy {policy_name(policy)} returned {answer!r}; return Verdict.allow(), "
                "Verdict.deny(reason), Verdict.require_approval(reason) or None"
            )
        if answer.outcome is DecisionOutcome.DENY:
            return answer, policy_name(policy)
        if answer.outcome is DecisionOutcome.REQUIRE_APPROVAL and held is None:
            held = (answer, policy_name(policy))
        elif allowed is None:
            allowed = (answer, policy_name(policy))
    return held or allowed or (Verdict.allow(), "policies")
