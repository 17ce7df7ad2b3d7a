"""Governance on the Temporal executor, approvals: approve, reject, time out, cancel and
list, on a real Temporal dev server (governance_temporal_kit.py). Policies, artifacts and
tenants are in test_governance_temporal_policies.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.governance_temporal_kit import (
    LIMIT,
    ApprovalWorkflow,
    changes,
    eventually,
    governance_events,
    new_id,
    start_waiting,
    wait_state,
)
from tests.integration.governance_temporal_kit import client as client  # the fixture
from tests.integration.governance_temporal_kit import queue as queue  # the fixture
from tests.integration.governance_temporal_kit import worker as worker  # the fixture
from turnout import (
    EventType,
    RunState,
    WorkflowFailureError,
    WorkflowNotFoundError,
)
from turnout.contracts import (
    ApprovalAlreadyDecidedError,
    ApprovalNotFoundError,
    ApprovalState,
    DecisionOutcome,
)

pytestmark = pytest.mark.temporal


# -- approvals ---------------------------------------------------------------------------


@pytest.mark.usefixtures("worker")
async def test_approve_moves_the_run_back_to_running(client: Any, queue: str) -> None:
    handle = await start_waiting(client, queue)

    [pending] = await handle.approvals()
    assert (pending.name, pending.state, pending.details) == (
        "deploy",
        ApprovalState.PENDING,
        {"env": "prod"},
    )
    assert (pending.workflow_type, pending.tenant_id) == ("ApprovalWorkflow", "default")
    assert pending.timeout_at is None

    decision = await handle.approve("deploy", by="alice", reason="looks good")
    assert (decision.outcome, decision.decided_by, decision.reason) == (
        DecisionOutcome.APPROVED,
        "alice",
        "looks good",
    )
    await wait_state(handle, RunState.RUNNING)
    await handle.signal(ApprovalWorkflow.finish_now)
    assert await handle.result(timeout=timedelta(seconds=LIMIT)) == "approved by alice"
    assert (await handle.describe()).state is RunState.COMPLETED

    events = await handle.events()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert changes(events) == [
        ("queued", "running"),
        ("running", "waiting_approval"),
        ("waiting_approval", "running"),
        ("running", "completed"),
    ]
    assert governance_events(events) == [
        "state_changed:running",
        "policy_decided",  # the start: no policy objects
        "approval_requested",
        "state_changed:waiting_approval",
        "approval_decided",
        "state_changed:running",
        "state_changed:completed",
    ]
    requested = next(e for e in events if e.type is EventType.APPROVAL_REQUESTED)
    assert requested.attributes == {"name": "deploy", "details": {"env": "prod"}, "timeout": None}
    decided = next(e for e in events if e.type is EventType.APPROVAL_DECIDED)
    assert decided.attributes["decision_id"] == decision.decision_id
    assert decided.attributes["outcome"] == "approved"

    [approval] = await handle.approvals()
    assert (approval.state, approval.decided_by, approval.reason) == (
        ApprovalState.APPROVED,
        "alice",
        "looks good",
    )
    [start, recorded] = await handle.policy_decisions()
    assert (start.attributes["kind"], start.outcome) == ("workflow", DecisionOutcome.ALLOW)
    assert recorded.decision_id == decision.decision_id
    assert (recorded.name, recorded.outcome, recorded.decided_by) == (
        "deploy",
        DecisionOutcome.APPROVED,
        "alice",
    )


@pytest.mark.usefixtures("worker")
async def test_reject(client: Any, queue: str) -> None:
    handle = await start_waiting(client, queue)
    decision = await handle.reject("deploy", by="bob", reason="not on a friday")
    assert decision.outcome is DecisionOutcome.REJECTED
    await wait_state(handle, RunState.RUNNING)
    await handle.signal(ApprovalWorkflow.finish_now)
    assert await handle.result(timeout=timedelta(seconds=LIMIT)) == "rejected by bob"

    [approval] = await handle.approvals()
    assert (approval.state, approval.decided_by, approval.reason) == (
        ApprovalState.REJECTED,
        "bob",
        "not on a friday",
    )
    decided = [e for e in await handle.events() if e.type is EventType.APPROVAL_DECIDED]
    assert [e.attributes["outcome"] for e in decided] == ["rejected"]


@pytest.mark.usefixtures("worker")
async def test_timeout_decides_timed_out(client: Any, queue: str) -> None:
    handle = await client.start_workflow(ApprovalWorkflow.run, 1.0, id=new_id(), task_queue=queue)
    await handle.signal(ApprovalWorkflow.start_now)
    result = await handle.result(timeout=timedelta(seconds=LIMIT))
    assert result == "timed_out: no decision within 1.0 s"

    [approval] = await handle.approvals()
    assert approval.state is ApprovalState.TIMED_OUT
    assert approval.decided_by is None
    assert approval.timeout_at is not None
    events = await handle.events()
    assert changes(events) == [
        ("queued", "running"),
        ("running", "waiting_approval"),
        ("waiting_approval", "running"),
        ("running", "completed"),
    ]
    [decided] = [e for e in events if e.type is EventType.APPROVAL_DECIDED]
    assert (decided.attributes["outcome"], decided.attributes["decided_by"]) == (
        "timed_out",
        None,
    )
    assert [e.type for e in events if e.type is EventType.APPROVAL_REQUESTED] == [
        EventType.APPROVAL_REQUESTED
    ]
    [_, recorded] = await handle.policy_decisions()  # the start's, then the approval's
    assert recorded.outcome is DecisionOutcome.TIMED_OUT
    with pytest.raises(WorkflowNotFoundError):  # the run is closed
        await handle.approve("deploy", by="alice")


@pytest.mark.usefixtures("worker")
async def test_a_decision_is_final_and_names_must_match(client: Any, queue: str) -> None:
    handle = await start_waiting(client, queue)

    with pytest.raises(ApprovalNotFoundError) as missing:
        await handle.approve("launch", by="alice")
    assert missing.value.pending == ["deploy"]
    with pytest.raises(ValueError, match="by="):
        await handle.approve("deploy", by="  ")

    await handle.approve("deploy", by="alice")
    await wait_state(handle, RunState.RUNNING)
    with pytest.raises(ApprovalAlreadyDecidedError) as twice:
        await handle.reject("deploy", by="mallory")
    assert (twice.value.outcome, twice.value.decided_by) == ("approved", "alice")
    with pytest.raises(ApprovalNotFoundError) as unknown:
        await handle.approve("launch", by="alice")
    assert unknown.value.pending == []

    await handle.signal(ApprovalWorkflow.finish_now)
    assert await handle.result(timeout=timedelta(seconds=LIMIT)) == "approved by alice"
    assert [d.decided_by for d in await handle.policy_decisions()] == ["policy:policies", "alice"]


@pytest.mark.usefixtures("worker")
async def test_cancel_while_waiting(client: Any, queue: str) -> None:
    handle = await start_waiting(client, queue)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result(timeout=timedelta(seconds=LIMIT))
    assert (await handle.describe()).state is RunState.CANCELED
    assert changes(await handle.events()) == [
        ("queued", "running"),
        ("running", "waiting_approval"),
        ("waiting_approval", "canceled"),
    ]
    assert await handle.approvals() == []  # the request was withdrawn


@pytest.mark.usefixtures("worker")
async def test_list_pending_approvals(client: Any, queue: str) -> None:
    handle = await start_waiting(client, queue)

    def mine(approvals: list[Any]) -> list[Any]:
        return [a for a in approvals if a.workflow_id == handle.id]

    listed = await eventually(
        lambda: client.list_pending_approvals(workflow_type="ApprovalWorkflow"),
        lambda found: bool(mine(found)),
    )
    [approval] = mine(listed)
    assert (approval.name, approval.state, approval.tenant_id) == (
        "deploy",
        ApprovalState.PENDING,
        "default",
    )
    assert not mine(await client.list_pending_approvals(workflow_type="GovernedWorkflow"))
    waiting = await client.list_workflows(state=RunState.WAITING_APPROVAL)
    assert handle.id in {r.workflow_id for r in waiting}

    await handle.approve("deploy", by="alice")
    await eventually(client.list_pending_approvals, lambda found: not mine(found))
    await handle.signal(ApprovalWorkflow.finish_now)
    await handle.result(timeout=timedelta(seconds=LIMIT))
