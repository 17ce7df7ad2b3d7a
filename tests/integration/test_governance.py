"""Approvals, policies and artifacts, end to end, on SQLite, PostgreSQL and Temporal.

The same workflows and the same assertions run on every executor: the run goes
running -> waiting_approval -> running, decisions are final and recorded once,
policies deny or hold activities, artifacts are listed and on the timeline.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

import turnout
from tests import governance_workflows as gw
from turnout import (
    ApprovalAlreadyDecidedError,
    ApprovalNotFoundError,
    ApprovalState,
    DecisionOutcome,
    EventType,
    RunState,
    WorkflowNotFoundError,
)

Q = "governance"


@pytest.fixture
async def client(executor_client: Any) -> AsyncIterator[Any]:
    async with turnout.Worker(
        executor_client,
        task_queue=Q,
        workflows=gw.WORKFLOWS,
        activities=gw.ACTIVITIES,
        policies=[gw.guard_policy],
    ):
        yield executor_client


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _wait(handle: Any, state: RunState) -> None:
    async with asyncio.timeout(20):
        while (await handle.describe()).state is not state:
            await asyncio.sleep(0.02)


def _states(events: list[turnout.Event]) -> list[str]:
    return [e.attributes["to"] for e in events if e.type is EventType.STATE_CHANGED]


async def test_an_approved_run_waits_then_completes(client: Any) -> None:
    handle = await client.start_workflow(gw.Deploy.run, "prod", id=_id("deploy"), task_queue=Q)
    await _wait(handle, RunState.WAITING_APPROVAL)
    [pending] = await handle.approvals()
    assert (pending.name, pending.state, pending.details, pending.workflow_type) == (
        "deploy",
        ApprovalState.PENDING,
        {"env": "prod"},
        "Deploy",
    )

    decision = await handle.approve("deploy", by="alice", reason="change ticket 42")

    assert (decision.outcome, decision.decided_by) == (DecisionOutcome.APPROVED, "alice")
    assert await handle.result() == "shipped to prod, approved by alice (change ticket 42)"
    assert (await handle.describe()).state is RunState.COMPLETED
    events = await handle.events()
    states = _states(events)
    after = states[states.index("waiting_approval") :]
    assert after == ["waiting_approval", "running", "completed"]
    types = [e.type for e in events]
    assert types.index(EventType.APPROVAL_REQUESTED) < types.index(EventType.APPROVAL_DECIDED)
    decided = next(e for e in events if e.type is EventType.APPROVAL_DECIDED)
    assert decided.attributes["outcome"] == "approved"
    assert decided.attributes["decided_by"] == "alice"
    assert [a.state for a in await handle.approvals()] == [ApprovalState.APPROVED]
    recorded = [d for d in await handle.policy_decisions() if d.name == "deploy"]
    assert [(d.outcome, d.decided_by) for d in recorded] == [(DecisionOutcome.APPROVED, "alice")]


async def test_a_rejected_run_takes_its_rejection_path(client: Any) -> None:
    handle = await client.start_workflow(gw.Deploy.run, "prod", id=_id("deploy"), task_queue=Q)
    await _wait(handle, RunState.WAITING_APPROVAL)

    await handle.reject("deploy", by="bob", reason="freeze week")

    assert await handle.result() == "not shipped: rejected by bob"
    decided = next(e for e in await handle.events() if e.type is EventType.APPROVAL_DECIDED)
    assert (decided.attributes["outcome"], decided.attributes["reason"]) == (
        "rejected",
        "freeze week",
    )


async def test_an_approval_nobody_decides_times_out(client: Any) -> None:
    handle = await client.start_workflow(
        gw.Deploy.run, args=["staging", 0.5], id=_id("deploy"), task_queue=Q
    )

    assert await handle.result() == "not shipped: timed_out by None"
    [approval] = await handle.approvals()
    assert approval.state is ApprovalState.TIMED_OUT
    with pytest.raises(WorkflowNotFoundError):  # the run is closed: nothing left to decide
        await handle.approve("deploy", by="late")


async def test_deciding_twice_is_refused_and_changes_nothing(client: Any) -> None:
    handle = await client.start_workflow(gw.Deploy.run, "prod", id=_id("deploy"), task_queue=Q)
    await _wait(handle, RunState.WAITING_APPROVAL)
    with pytest.raises(ApprovalNotFoundError, match="'deploy'"):
        await handle.approve("launch", by="alice")
    with pytest.raises(ValueError, match="by="):
        await handle.approve("deploy", by=" ")
    await handle.reject("deploy", by="bob")
    await asyncio.wait_for(handle.result(), 20)
    before = await handle.events()

    with pytest.raises((ApprovalAlreadyDecidedError, WorkflowNotFoundError)):
        await handle.approve("deploy", by="alice")

    assert await handle.events() == before
    assert await handle.result() == "not shipped: rejected by bob"


async def test_deciding_twice_while_the_run_is_open_names_the_first_decision(
    client: Any,
) -> None:
    # Two approvals in a row: the first is decided while the run still waits on the second.
    handle = await client.start_workflow(gw.Guarded.run, 500, id=_id("guarded"), task_queue=Q)
    await _wait(handle, RunState.WAITING_APPROVAL)
    await handle.approve("treasury", by="carol")
    refused: BaseException | None = None
    async with asyncio.timeout(20):
        while refused is None:
            try:
                await handle.approve("treasury", by="dave")
            except (ApprovalAlreadyDecidedError, WorkflowNotFoundError) as exc:
                refused = exc  # WorkflowNotFoundError: the run finished first
    if isinstance(refused, ApprovalAlreadyDecidedError):
        assert (refused.outcome, refused.decided_by) == ("approved", "carol")
    assert await handle.result() == "PolicyDenied; transferred 500"


async def test_policies_deny_one_activity_and_hold_another_for_approval(client: Any) -> None:
    handle = await client.start_workflow(gw.Guarded.run, 500, id=_id("guarded"), task_queue=Q)
    await _wait(handle, RunState.WAITING_APPROVAL)
    pending = [a for a in await client.list_pending_approvals() if a.workflow_id == handle.id]
    assert [(a.name, a.details.get("activity_type")) for a in pending] == [("treasury", "transfer")]

    await handle.approve("treasury", by="carol", reason="board minute 7")

    assert await handle.result() == "PolicyDenied; transferred 500"
    decisions = await handle.policy_decisions()
    summary = [(d.name, d.outcome) for d in decisions]
    assert summary == [
        ("Guarded", DecisionOutcome.ALLOW),  # the start: no policy objects
        ("drop_table", DecisionOutcome.DENY),
        ("transfer", DecisionOutcome.REQUIRE_APPROVAL),
        ("treasury", DecisionOutcome.APPROVED),
        ("transfer", DecisionOutcome.ALLOW),
    ]
    assert decisions[1].reason == "dropping users is never allowed"
    assert decisions[1].decided_by == "policy:guard_policy"
    assert decisions[4].reason == "approval 'treasury' granted by carol"
    events = await handle.events()
    assert sum(e.type is EventType.POLICY_DECIDED for e in events) == 4
    assert "waiting_approval" in _states(events)
    assert not [a for a in await client.list_pending_approvals() if a.workflow_id == handle.id]


async def test_a_small_transfer_needs_no_approval(client: Any) -> None:
    handle = await client.start_workflow(gw.Guarded.run, 5, id=_id("guarded"), task_queue=Q)

    assert await handle.result() == "PolicyDenied; transferred 5"
    assert "waiting_approval" not in _states(await handle.events())
    assert [d.outcome for d in await handle.policy_decisions()] == [
        DecisionOutcome.ALLOW,  # the start
        DecisionOutcome.DENY,
        DecisionOutcome.ALLOW,
    ]


async def test_a_rejected_hold_fails_the_activity_without_running_it(client: Any) -> None:
    handle = await client.start_workflow(gw.Guarded.run, 900, id=_id("guarded"), task_queue=Q)
    await _wait(handle, RunState.WAITING_APPROVAL)

    await handle.reject("treasury", by="carol", reason="over budget")

    assert await handle.result() == "PolicyDenied; refused: ApprovalRejected"
    completed = [
        e.attributes.get("activity_type")
        for e in await handle.events()
        if e.type is EventType.ACTIVITY_COMPLETED
    ]
    assert "transfer" not in completed


async def test_artifacts_are_recorded_listed_and_on_the_timeline(client: Any) -> None:
    handle = await client.start_workflow(gw.Reports.run, id=_id("reports"), task_queue=Q)

    ids = await handle.result()

    found = await handle.artifacts()
    assert [a.artifact_id for a in found] == ids
    assert [(a.name, a.uri, a.media_type, a.size_bytes, a.digest) for a in found] == [
        ("q1", "file:///reports/q1.pdf", "application/pdf", 2048, "sha256:00ff"),
        ("q2", "file:///reports/q2.pdf", "application/pdf", 2048, "sha256:00ff"),
    ]
    assert found[0].attributes["pages"] == 3
    assert found[0].attributes["activity_type"] == "render_report"
    recorded = [e for e in await handle.events() if e.type is EventType.ARTIFACT_RECORDED]
    assert [e.attributes["artifact_id"] for e in recorded] == ids


async def test_the_client_says_it_is_durable(client: Any) -> None:
    assert client.is_durable is True
    assert client.tenant_id


async def test_governed_runs_replay_deterministically(client: Any) -> None:
    from turnout.replay import replay_run

    deploy = await client.start_workflow(gw.Deploy.run, "prod", id=_id("deploy"), task_queue=Q)
    guarded = await client.start_workflow(gw.Guarded.run, 500, id=_id("guarded"), task_queue=Q)
    moon = await client.start_workflow(gw.Deploy.run, "moon", id=_id("deploy"), task_queue=Q)
    await _wait(deploy, RunState.WAITING_APPROVAL)
    await _wait(guarded, RunState.WAITING_APPROVAL)
    await _wait(moon, RunState.WAITING_APPROVAL)
    await deploy.approve("deploy", by="alice")
    await guarded.approve("treasury", by="carol")
    await moon.approve("launch", by="houston")  # the start gate, then the code's own approval
    async with asyncio.timeout(20):
        while [a.state for a in await moon.approvals()] != [
            ApprovalState.APPROVED,
            ApprovalState.PENDING,
        ]:
            await asyncio.sleep(0.02)
    await moon.approve("deploy", by="alice")
    await asyncio.wait_for(asyncio.gather(deploy.result(), guarded.result(), moon.result()), 30)

    for handle in (deploy, guarded, moon):
        replayed = await replay_run(client, handle.id, None, gw.WORKFLOWS)
        assert replayed.deterministic, replayed.summary


async def test_a_start_policy_denies_a_run_before_its_code_runs(client: Any) -> None:
    handle = await client.start_workflow(gw.Deploy.run, "forbidden", id=_id("deploy"), task_queue=Q)

    with pytest.raises(turnout.WorkflowFailureError) as failed:
        await handle.result()

    cause = failed.value.cause
    assert isinstance(cause, turnout.ApplicationError)
    assert (cause.type, cause.message) == ("PolicyDenied", "nothing ships to forbidden")
    assert (await handle.describe()).state is RunState.FAILED
    [decision] = await handle.policy_decisions()
    assert (decision.name, decision.outcome, decision.attributes["kind"]) == (
        "Deploy",
        DecisionOutcome.DENY,
        "workflow",
    )
    types = [e.type for e in await handle.events()]
    assert EventType.APPROVAL_REQUESTED not in types  # the code never ran
    assert EventType.POLICY_DECIDED in types


@pytest.mark.parametrize(("verb", "expected"), [("approve", "approved"), ("reject", "rejected")])
async def test_a_start_policy_holds_a_run_until_its_start_is_approved(
    client: Any, verb: str, expected: str
) -> None:
    handle = await client.start_workflow(gw.Deploy.run, "moon", id=_id("deploy"), task_queue=Q)
    await _wait(handle, RunState.WAITING_APPROVAL)
    [gate] = await handle.approvals()
    assert (gate.name, gate.details["workflow_type"]) == ("launch", "Deploy")

    await getattr(handle, verb)("launch", by="houston")

    if expected == "approved":  # the code starts, and asks for its own approval
        await _wait(handle, RunState.WAITING_APPROVAL)
        async with asyncio.timeout(20):
            while len(await handle.approvals()) < 2:
                await asyncio.sleep(0.02)
        await handle.approve("deploy", by="alice")
        assert await handle.result() == "shipped to moon, approved by alice (None)"
    else:
        with pytest.raises(turnout.WorkflowFailureError) as failed:
            await handle.result()
        assert isinstance(failed.value.cause, turnout.ApplicationError)
        assert failed.value.cause.type == "ApprovalRejected"
    outcomes = [(d.name, d.outcome.value) for d in await handle.policy_decisions()][:2]
    assert outcomes == [("Deploy", "require_approval"), ("launch", expected)]
