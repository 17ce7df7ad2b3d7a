"""Governance on Temporal: approvals kept in the workflow (and its memo), policies consulted
before each activity, artifacts and decisions recorded as signals in the run's history.

Where things live:

* The run's approvals are state of the workflow instance (:class:`WorkflowApprovals`, one
  per instance, held by the inbound interceptor). Every change is upserted to the memo
  ``turnout_approvals`` (``pending``, ``decided`` and ``event``: what that upsert means),
  so a client reads them with ``describe()`` and the history shows each change as a
  ``WorkflowPropertiesModified`` event.
* A person decides with the signal ``turnout.approval_decided`` (sent by the client after
  it checked the memo). A timeout is decided by the workflow itself.
* Policy decisions and artifacts are signals the activity worker sends to the run
  (``turnout.policy_decided``, ``turnout.artifact_recorded``); the history is their record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import temporalio.activity
import temporalio.client
import temporalio.service
import temporalio.workflow
from pydantic_core import to_jsonable_python

from turnout.contracts.errors import ApplicationError
from turnout.contracts.governance import (
    APPROVAL_REQUIRED,
    POLICY_DENIED,
    START_GATE,
    Approval,
    ApprovalState,
    Policy,
    PolicyRequest,
    approval_requested_attributes,
    consult,
    decision_attributes,
    decision_on,
    start_refused,
)
from turnout.contracts.records import DEFAULT_TENANT, DecisionOutcome, PolicyDecision

if TYPE_CHECKING:
    from turnout.executors.temporal._client import TemporalClient

__all__ = [
    "ADMISSION_ACTIVITY",
    "APPROVALS_MEMO",
    "APPROVAL_SIGNAL",
    "ARTIFACT_SIGNAL",
    "POLICY_SIGNAL",
    "WorkflowApprovals",
    "admission_activity",
    "admit",
    "approvals_from_memo",
    "check_policies",
    "decided_of",
    "decision_from_attributes",
    "pending_of",
    "record_on_run",
]

APPROVALS_MEMO = "turnout_approvals"
"""Memo key of a run's approvals: ``{"pending": {...}, "decided": {...}, "event": {...}}``."""
APPROVAL_SIGNAL = "turnout.approval_decided"
"""A person's decision on a pending approval; payload: ``decision_attributes(decision)``."""
POLICY_SIGNAL = "turnout.policy_decided"
"""A policy decision about one activity attempt; a record in the history."""
ARTIFACT_SIGNAL = "turnout.artifact_recorded"
"""An artifact an activity recorded; a record in the history."""

ADMISSION_ACTIVITY = "turnout.admit"
"""The local activity that asks a worker's policies whether a run may start."""
_ADMISSION_TIMEOUT = timedelta(seconds=60)

_APPROVAL_KIND = {"kind": "approval"}


def decision_from_attributes(
    attrs: Mapping[str, Any], *, run_id: str, workflow_id: str, tenant_id: str
) -> PolicyDecision:
    """The decision ``decision_attributes`` describes (KeyError/ValueError when malformed)."""
    known = {"decision_id", "name", "outcome", "decided_by", "reason", "decided_at"}
    return PolicyDecision(
        decision_id=str(attrs["decision_id"]),
        run_id=run_id,
        workflow_id=workflow_id,
        tenant_id=tenant_id,
        name=str(attrs["name"]),
        outcome=DecisionOutcome(attrs["outcome"]),
        decided_by=attrs.get("decided_by"),
        reason=attrs.get("reason"),
        decided_at=datetime.fromisoformat(str(attrs["decided_at"])),
        attributes={k: v for k, v in attrs.items() if k not in known},
    )


# -- the workflow side -------------------------------------------------------------------


class WorkflowApprovals:
    """The approvals of one workflow instance: what is pending, what was decided.

    Rebuilt identically on replay: requests come from the workflow code, decisions
    from the signals in the history.
    """

    def __init__(self, tenant_id: str = DEFAULT_TENANT) -> None:
        self.tenant_id = tenant_id
        self._pending: dict[str, dict[str, Any]] = {}
        self._decided: dict[str, dict[str, Any]] = {}
        self._received: dict[str, PolicyDecision] = {}
        self._registered = False

    def register(self) -> None:
        """Install the built-in signal handlers (once per instance, inside the workflow)."""
        if self._registered:
            return
        self._registered = True
        temporalio.workflow.set_signal_handler(APPROVAL_SIGNAL, self._on_decision)
        # Records in the history only; a handler makes the signals accepted, not buffered.
        temporalio.workflow.set_signal_handler(POLICY_SIGNAL, _record_only)
        temporalio.workflow.set_signal_handler(ARTIFACT_SIGNAL, _record_only)

    def _on_decision(self, payload: Any) -> None:
        info = temporalio.workflow.info()
        try:
            decision = decision_from_attributes(
                payload,
                run_id=info.run_id,
                workflow_id=info.workflow_id,
                tenant_id=self.tenant_id,
            )
        except (KeyError, TypeError, ValueError) as exc:
            temporalio.workflow.logger.warning("ignored a malformed approval decision: %s", exc)
            return
        name = decision.name
        if name not in self._pending or name in self._received:
            temporalio.workflow.logger.warning(
                "ignored a decision on approval %r: it is not pending in this run", name
            )
            return
        if decision.outcome not in (DecisionOutcome.APPROVED, DecisionOutcome.REJECTED):
            temporalio.workflow.logger.warning(
                "ignored a decision on approval %r: outcome %r is not approved or rejected",
                name,
                decision.outcome.value,
            )
            return
        self._received[name] = decision

    async def request(
        self, name: str, details: dict[str, Any], timeout: float | None, *, gate: str | None = None
    ) -> PolicyDecision:
        """Ask for approval ``name`` and wait for a decision (or ``timeout`` seconds);
        ``gate="start"`` when a start policy holds the run's code on it."""
        if name in self._pending:
            raise ValueError(
                f"approval {name!r} is already pending in this run; wait for its decision "
                "before asking again, or give this request another name"
            )
        if timeout is not None and timeout <= 0:
            raise ValueError(f"an approval timeout must be > 0 seconds, got {timeout}")
        self.register()
        now = temporalio.workflow.now()
        self._pending[name] = {
            "details": details,
            "requested_at": now.isoformat(),
            "timeout_at": (now + timedelta(seconds=timeout)).isoformat() if timeout else None,
        }
        self._upsert(
            {
                "type": "approval_requested",
                **approval_requested_attributes(name, details, timeout, gate=gate),
            }
        )
        try:
            await temporalio.workflow.wait_condition(
                lambda: name in self._received, timeout=timeout
            )
        except TimeoutError:
            pass  # unless a decision arrived in the same activation, it timed out
        except asyncio.CancelledError:
            # The wait was cancelled (so is the run, usually): the request is withdrawn.
            self._received.pop(name, None)
            self._pending.pop(name, None)
            self._upsert({"type": "approval_withdrawn", "name": name})
            raise
        decision = self._received.pop(name, None)
        if decision is None:
            info = temporalio.workflow.info()
            decision = PolicyDecision(
                decision_id=temporalio.workflow.uuid4().hex,
                run_id=info.run_id,
                workflow_id=info.workflow_id,
                tenant_id=self.tenant_id,
                name=name,
                outcome=DecisionOutcome.TIMED_OUT,
                decided_by=None,
                reason=f"no decision within {timeout} s",
                decided_at=temporalio.workflow.now(),
                attributes=dict(_APPROVAL_KIND),
            )
        request = self._pending.pop(name)
        self._decided[name] = {
            **request,
            "outcome": decision.outcome.value,
            "decided_by": decision.decided_by,
            "reason": decision.reason,
            "decided_at": decision.decided_at.isoformat(),
            "decision_id": decision.decision_id,
        }
        self._upsert({"type": "approval_decided", **decision_attributes(decision)})
        return decision

    def _upsert(self, event: dict[str, Any]) -> None:
        temporalio.workflow.upsert_memo(
            {
                APPROVALS_MEMO: {
                    "pending": dict(self._pending),
                    "decided": dict(self._decided),
                    "event": event,
                }
            }
        )


async def admit(approvals: WorkflowApprovals, args: Sequence[Any]) -> None:
    """In the workflow, before its code: ask the worker's start policies (a local activity,
    so the answer is in the history), then fail the run, hold it for an approval, or go on."""
    info = temporalio.workflow.info()
    verdict = await temporalio.workflow.execute_local_activity(
        ADMISSION_ACTIVITY,
        {"workflow_type": info.workflow_type, "args": list(args)},
        start_to_close_timeout=_ADMISSION_TIMEOUT,
    )
    outcome = DecisionOutcome(verdict["outcome"])
    if outcome is DecisionOutcome.DENY:
        raise ApplicationError(
            verdict.get("reason") or f"workflow {info.workflow_type} denied by a policy",
            type=POLICY_DENIED,
            non_retryable=True,
        )
    if outcome is not DecisionOutcome.REQUIRE_APPROVAL:
        return
    decision = await approvals.request(
        str(verdict["approval"]),
        {"workflow_type": info.workflow_type, "reason": verdict.get("reason")},
        verdict.get("timeout"),
        gate=START_GATE,
    )
    if not decision.approved:
        raise start_refused(info.workflow_type, decision)


def admission_activity(client: TemporalClient, policies: Sequence[Policy]) -> Any:
    """The local activity :func:`admit` calls: consult the policies and return the verdict
    with the decision (recorded in the history with the local activity's result)."""

    @temporalio.activity.defn(name=ADMISSION_ACTIVITY)
    async def admission(request: dict[str, Any]) -> dict[str, Any]:
        info = temporalio.activity.info()
        workflow_type = str(request["workflow_type"])
        asked = PolicyRequest(
            kind="workflow",
            name=workflow_type,
            workflow_id=info.workflow_id or "",
            run_id=info.workflow_run_id or "",
            workflow_type=workflow_type,
            tenant_id=client.tenant_id,
            task_queue=info.task_queue,
            attempt=1,
            args=list(to_jsonable_python(request.get("args") or [])),
        )
        verdict, by = await consult(policies, asked)
        attributes: dict[str, Any] = {"kind": "workflow", "workflow_type": workflow_type}
        timeout = verdict.timeout.total_seconds() if verdict.timeout else None
        if verdict.outcome is DecisionOutcome.REQUIRE_APPROVAL:
            attributes["approval"] = verdict.approval or workflow_type
            attributes["timeout"] = timeout
        decision = decision_on(
            asked,
            verdict.outcome,
            policy=by,
            reason=verdict.reason,
            attributes=attributes,
            decided_at=datetime.now(UTC),
        )
        # The result is recorded in the run's history (the local activity's marker), which
        # is where the decision's policy_decided event maps from. A signal here would land
        # during the workflow task that runs this, which a denied start then closes over.
        return {
            "outcome": verdict.outcome.value,
            "reason": verdict.reason,
            "approval": attributes.get("approval"),
            "timeout": timeout,
            "decision": decision_attributes(decision),
        }

    return admission


def _record_only(payload: Any) -> None:
    """Accept a signal that is a record in the history (policy decisions, artifacts)."""


# -- reading the memo (clients and activity workers) -------------------------------------


def _memo_section(memo: Mapping[str, Any], key: str) -> dict[str, dict[str, Any]]:
    approvals = memo.get(APPROVALS_MEMO)
    section = approvals.get(key) if isinstance(approvals, dict) else None
    return section if isinstance(section, dict) else {}


def pending_of(memo: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Pending approvals by name, from a run's memo."""
    return _memo_section(memo, "pending")


def decided_of(memo: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Decided approvals by name (the latest decision of each), from a run's memo."""
    return _memo_section(memo, "decided")


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def approvals_from_memo(
    memo: Mapping[str, Any],
    *,
    workflow_id: str,
    run_id: str,
    workflow_type: str,
    tenant_id: str,
    pending_only: bool = False,
) -> list[Approval]:
    """The run's approvals (pending, and decided unless ``pending_only``), oldest first."""
    found: list[Approval] = []
    sections: list[tuple[dict[str, dict[str, Any]], bool]] = [(pending_of(memo), False)]
    if not pending_only:
        sections.append((decided_of(memo), True))
    for entries, decided in sections:
        for name, entry in entries.items():
            requested_at = _when(entry.get("requested_at"))
            if requested_at is None:
                continue
            found.append(
                Approval(
                    workflow_id=workflow_id,
                    run_id=run_id,
                    workflow_type=workflow_type,
                    tenant_id=tenant_id,
                    name=name,
                    state=ApprovalState(entry["outcome"]) if decided else ApprovalState.PENDING,
                    details=entry.get("details") or {},
                    requested_at=requested_at,
                    timeout_at=_when(entry.get("timeout_at")),
                    decided_at=_when(entry.get("decided_at")),
                    decided_by=entry.get("decided_by"),
                    reason=entry.get("reason"),
                )
            )
    found.sort(key=lambda a: (a.requested_at, a.name))
    return found


# -- the activity side -------------------------------------------------------------------


async def record_on_run(
    run: temporalio.client.WorkflowHandle[Any, Any], signal: str, attributes: dict[str, Any]
) -> bool:
    """Send a record signal to the activity's run; False (and a warning) when the run is
    closed already: the record is lost with nothing to attach it to, as on the internal
    executor."""
    try:
        await run.signal(signal, attributes)
    except temporalio.service.RPCError as exc:
        if exc.status is not temporalio.service.RPCStatusCode.NOT_FOUND:
            raise
        temporalio.activity.logger.warning(
            "%s of run %s not recorded: the run is closed", signal, run.id
        )
        return False
    return True


async def check_policies(
    client: TemporalClient, policies: Sequence[Policy], args: Sequence[Any]
) -> None:
    """Consult the worker's policies about the current activity attempt and record the
    decision on the run; raise the failure that ends a denied or held attempt."""
    info = temporalio.activity.info()
    run_id = info.workflow_run_id or ""
    workflow_id = info.workflow_id or ""
    request = PolicyRequest(
        kind="activity",
        name=info.activity_type,
        workflow_id=workflow_id,
        run_id=run_id,
        workflow_type=info.workflow_type or "",
        tenant_id=client.tenant_id,
        task_queue=info.task_queue,
        attempt=info.attempt,
        args=list(to_jsonable_python(list(args))),
    )
    verdict, by = await consult(policies, request)
    outcome, reason = verdict.outcome, verdict.reason
    attributes: dict[str, Any] = {
        "kind": "activity",
        "activity_type": info.activity_type,
        "activity_id": info.activity_id,
        "attempt": info.attempt,
    }
    run = client.raw.get_workflow_handle(workflow_id, run_id=run_id)
    approval = verdict.approval or info.activity_type
    if outcome is DecisionOutcome.REQUIRE_APPROVAL:
        attributes["approval"] = approval
        memo = await (await run.describe()).memo()
        granted = decided_of(memo).get(approval)
        if granted is not None and granted.get("outcome") == DecisionOutcome.APPROVED.value:
            outcome = DecisionOutcome.ALLOW
            reason = f"approval {approval!r} granted by {granted.get('decided_by')}"
    decision = decision_on(
        request,
        outcome,
        policy=by,
        reason=reason,
        attributes=attributes,
        decided_at=datetime.now(UTC),
    )
    await record_on_run(run, POLICY_SIGNAL, decision_attributes(decision))
    if outcome is DecisionOutcome.DENY:
        raise ApplicationError(
            reason or f"activity {info.activity_type} denied by policy {by}",
            type=POLICY_DENIED,
            non_retryable=True,
        )
    if outcome is DecisionOutcome.REQUIRE_APPROVAL:
        timeout = verdict.timeout.total_seconds() if verdict.timeout else None
        raise ApplicationError(
            f"activity {info.activity_type} needs approval {approval!r}: {reason}",
            {"approval": approval, "reason": reason, "timeout": timeout},
            type=APPROVAL_REQUIRED,
            non_retryable=True,
        )
