"""Governance on the Temporal executor: approvals, policies, artifacts and tenants, on a real
Temporal dev server (the ``tenant-a`` / ``tenant-b`` namespaces come from the plugin)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest

import turnout
from turnout import (
    ActivityError,
    ApplicationError,
    EventType,
    RetryPolicy,
    RunState,
    WorkflowFailureError,
    WorkflowNotFoundError,
    activity,
    workflow,
)
from turnout.contracts import (
    ApprovalAlreadyDecidedError,
    ApprovalNotFoundError,
    ApprovalState,
    ConfigurationError,
    DecisionOutcome,
    PolicyRequest,
    Verdict,
)
from turnout.executors.temporal import namespace_for_tenant

pytestmark = pytest.mark.temporal

LIMIT = 30.0
"""Seconds any single wait in these tests may take."""

CALLS: Counter[str] = Counter()
"""Activity bodies run in this process, by ``activity:key``."""
CONSULTED: Counter[str] = Counter()
"""Policy consultations in this process, by ``activity:key``."""

T = TypeVar("T")


# -- workflows and activities ------------------------------------------------------------


@workflow.defn
class ApprovalWorkflow:
    """Waits for ``go``, asks for approval ``deploy``, then waits for ``finish``."""

    def __init__(self) -> None:
        self.go = False
        self.finish = False

    @workflow.run
    async def run(self, timeout: float | None) -> str:
        await workflow.wait_condition(lambda: self.go)
        decision = await workflow.request_approval(
            "deploy", details={"env": "prod"}, timeout=timeout
        )
        if decision.outcome is DecisionOutcome.TIMED_OUT:
            return f"timed_out: {decision.reason}"
        await workflow.wait_condition(lambda: self.finish)
        return f"{decision.outcome.value} by {decision.decided_by}"

    @workflow.signal
    def start_now(self) -> None:
        self.go = True

    @workflow.signal
    def finish_now(self) -> None:
        self.finish = True


@activity.defn
async def drop_tables(key: str) -> str:
    CALLS[f"drop_tables:{key}"] += 1
    return "dropped"


@activity.defn
async def transfer(key: str) -> str:
    CALLS[f"transfer:{key}"] += 1
    return "moved"


@activity.defn
async def write_report(key: str) -> str:
    CALLS[f"write_report:{key}"] += 1
    artifact = await activity.record_artifact(
        "report",
        f"s3://reports/{key}.txt",
        media_type="text/plain",
        size=42,
        digest="sha256:abc",
        attributes={"pages": 3},
    )
    return artifact.artifact_id


_ACTIVITY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=5),
}


@workflow.defn
class GovernedWorkflow:
    """One denied activity (caught), one that needs an approval, one recording an artifact."""

    @workflow.run
    async def run(self, key: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        try:
            await workflow.execute_activity(drop_tables, key, **_ACTIVITY)
        except ActivityError as exc:
            cause = exc.cause
            out["denied"] = {
                "cause": type(cause).__name__,
                "type": cause.type if isinstance(cause, ApplicationError) else None,
                "retry_state": exc.retry_state.value if exc.retry_state else None,
            }
        out["transfer"] = await workflow.execute_activity(transfer, key, **_ACTIVITY)
        out["report"] = await workflow.execute_activity(write_report, key, **_ACTIVITY)
        return out


def guard(request: PolicyRequest) -> Verdict | None:
    """Never drop tables; moving money needs approval ``transfer-ok``."""
    CONSULTED[f"{request.name}:{request.args[0]}"] += 1
    if request.name == "drop_tables":
        return Verdict.deny("never drop tables")
    if request.name == "transfer":
        return Verdict.require_approval("moves money", approval="transfer-ok")
    return None


WORKFLOWS = [ApprovalWorkflow, GovernedWorkflow]
ACTIVITIES = [drop_tables, transfer, write_report]


# -- fixtures and helpers ----------------------------------------------------------------


async def _connect(address: str, tenant_id: str = "default") -> Any:
    return await turnout.connect(
        executor="temporal", temporal_address=address, tenant_id=tenant_id, namespace="default"
    )


@pytest.fixture
def queue() -> str:
    return f"gov-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def client(temporal_address: str) -> AsyncIterator[Any]:
    c = await _connect(temporal_address)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def worker(client: Any, queue: str) -> AsyncIterator[turnout.Worker]:
    async with turnout.Worker(
        client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES, policies=[guard]
    ) as w:
        yield w


def _id() -> str:
    return f"gov-{uuid.uuid4().hex[:12]}"


async def _eventually(probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool]) -> T:
    """``probe()`` until ``ok(value)``, within LIMIT seconds (Temporal answers asynchronously)."""
    async with asyncio.timeout(LIMIT):
        while True:
            value = await probe()
            if ok(value):
                return value
            await asyncio.sleep(0.05)


async def _state(handle: Any, state: RunState) -> None:
    await _eventually(handle.describe, lambda run: run.state is state)


def _changes(events: list[turnout.Event]) -> list[tuple[str, str]]:
    return [
        (e.attributes["from"], e.attributes["to"])
        for e in events
        if e.type is EventType.STATE_CHANGED
    ]


def _governance(events: list[turnout.Event]) -> list[str]:
    kinds = {
        EventType.APPROVAL_REQUESTED,
        EventType.APPROVAL_DECIDED,
        EventType.POLICY_DECIDED,
        EventType.ARTIFACT_RECORDED,
        EventType.STATE_CHANGED,
    }
    return [
        f"{e.type.value}:{e.attributes['to']}"
        if e.type is EventType.STATE_CHANGED
        else e.type.value
        for e in events
        if e.type in kinds
    ]


async def _start_waiting(client: Any, queue: str, timeout: float | None = None) -> Any:
    """An ApprovalWorkflow that is waiting on its approval ``deploy``."""
    handle = await client.start_workflow(ApprovalWorkflow.run, timeout, id=_id(), task_queue=queue)
    await _state(handle, RunState.RUNNING)
    await handle.signal(ApprovalWorkflow.start_now)
    await _state(handle, RunState.WAITING_APPROVAL)
    return handle


# -- approvals ---------------------------------------------------------------------------


@pytest.mark.usefixtures("worker")
async def test_approve_moves_the_run_back_to_running(client: Any, queue: str) -> None:
    handle = await _start_waiting(client, queue)

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
    await _state(handle, RunState.RUNNING)
    await handle.signal(ApprovalWorkflow.finish_now)
    assert await handle.result(timeout=timedelta(seconds=LIMIT)) == "approved by alice"
    assert (await handle.describe()).state is RunState.COMPLETED

    events = await handle.events()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert _changes(events) == [
        ("queued", "running"),
        ("running", "waiting_approval"),
        ("waiting_approval", "running"),
        ("running", "completed"),
    ]
    assert _governance(events) == [
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
    handle = await _start_waiting(client, queue)
    decision = await handle.reject("deploy", by="bob", reason="not on a friday")
    assert decision.outcome is DecisionOutcome.REJECTED
    await _state(handle, RunState.RUNNING)
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
    handle = await client.start_workflow(ApprovalWorkflow.run, 1.0, id=_id(), task_queue=queue)
    await handle.signal(ApprovalWorkflow.start_now)
    result = await handle.result(timeout=timedelta(seconds=LIMIT))
    assert result == "timed_out: no decision within 1.0 s"

    [approval] = await handle.approvals()
    assert approval.state is ApprovalState.TIMED_OUT
    assert approval.decided_by is None
    assert approval.timeout_at is not None
    events = await handle.events()
    assert _changes(events) == [
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
    handle = await _start_waiting(client, queue)

    with pytest.raises(ApprovalNotFoundError) as missing:
        await handle.approve("launch", by="alice")
    assert missing.value.pending == ["deploy"]
    with pytest.raises(ValueError, match="by="):
        await handle.approve("deploy", by="  ")

    await handle.approve("deploy", by="alice")
    await _state(handle, RunState.RUNNING)
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
    handle = await _start_waiting(client, queue)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result(timeout=timedelta(seconds=LIMIT))
    assert (await handle.describe()).state is RunState.CANCELED
    assert _changes(await handle.events()) == [
        ("queued", "running"),
        ("running", "waiting_approval"),
        ("waiting_approval", "canceled"),
    ]
    assert await handle.approvals() == []  # the request was withdrawn


@pytest.mark.usefixtures("worker")
async def test_list_pending_approvals(client: Any, queue: str) -> None:
    handle = await _start_waiting(client, queue)

    def mine(approvals: list[Any]) -> list[Any]:
        return [a for a in approvals if a.workflow_id == handle.id]

    listed = await _eventually(
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
    await _eventually(client.list_pending_approvals, lambda found: not mine(found))
    await handle.signal(ApprovalWorkflow.finish_now)
    await handle.result(timeout=timedelta(seconds=LIMIT))


# -- policies and artifacts --------------------------------------------------------------


@pytest.mark.usefixtures("worker")
async def test_policies_deny_hold_for_approval_and_record_artifacts(
    client: Any, queue: str
) -> None:
    key = uuid.uuid4().hex[:8]
    handle = await client.start_workflow(GovernedWorkflow.run, key, id=_id(), task_queue=queue)
    await _state(handle, RunState.WAITING_APPROVAL)
    [held] = await handle.approvals()
    assert held.name == "transfer-ok"
    assert held.details == {"activity_type": "transfer", "reason": "moves money"}
    assert CALLS[f"drop_tables:{key}"] == 0  # denied: its body never ran
    assert CONSULTED[f"drop_tables:{key}"] == 1  # and it was not retried
    assert CALLS[f"transfer:{key}"] == 0  # held until approved

    await handle.approve("transfer-ok", by="carol")
    result = await handle.result(timeout=timedelta(seconds=LIMIT))

    assert result["denied"] == {
        "cause": "ApplicationError",
        "type": "PolicyDenied",
        "retry_state": "non_retryable_failure",
    }
    assert result["transfer"] == "moved"
    assert CALLS[f"transfer:{key}"] == 1
    assert CONSULTED[f"transfer:{key}"] == 2  # held, then allowed by the approval
    assert CONSULTED[f"drop_tables:{key}"] == 1

    start, *decisions = await handle.policy_decisions()
    assert (start.attributes["kind"], start.outcome.value) == ("workflow", "allow")
    assert [(d.name, d.outcome.value, d.decided_by) for d in decisions] == [
        ("drop_tables", "deny", "policy:guard"),
        ("transfer", "require_approval", "policy:guard"),
        ("transfer-ok", "approved", "carol"),
        ("transfer", "allow", "policy:guard"),
        ("write_report", "allow", "policy:policies"),
    ]
    assert decisions[0].reason == "never drop tables"
    assert decisions[0].attributes["activity_type"] == "drop_tables"
    assert decisions[1].attributes["approval"] == "transfer-ok"
    assert decisions[3].reason == "approval 'transfer-ok' granted by carol"

    [artifact] = await handle.artifacts()
    assert artifact.artifact_id == result["report"]
    assert (artifact.name, artifact.uri, artifact.media_type) == (
        "report",
        f"s3://reports/{key}.txt",
        "text/plain",
    )
    assert (artifact.size_bytes, artifact.digest) == (42, "sha256:abc")
    assert artifact.attributes == {"pages": 3, "activity_type": "write_report"}
    assert (artifact.workflow_id, artifact.tenant_id) == (handle.id, "default")

    events = await handle.events()
    assert _governance(events) == [
        "state_changed:running",
        "policy_decided",  # the start allowed
        "policy_decided",  # drop_tables denied
        "policy_decided",  # transfer held
        "approval_requested",
        "state_changed:waiting_approval",
        "approval_decided",
        "state_changed:running",
        "policy_decided",  # transfer allowed
        "policy_decided",  # write_report allowed
        "artifact_recorded",
        "state_changed:completed",
    ]
    failed = [e for e in events if e.type is EventType.ACTIVITY_FAILED]
    assert [e.attributes["activity_type"] for e in failed] == ["drop_tables", "transfer"]


# -- tenants -----------------------------------------------------------------------------


def test_a_tenant_is_a_namespace() -> None:
    assert namespace_for_tenant("default", "prod") == "prod"
    assert namespace_for_tenant("acme", "default") == "acme"
    assert namespace_for_tenant("acme", "acme") == "acme"
    with pytest.raises(ConfigurationError, match="a tenant is a namespace"):
        namespace_for_tenant("acme", "prod")
    with pytest.raises(ConfigurationError, match="placeholder"):
        namespace_for_tenant("changeme", "default")


async def test_a_tenant_without_its_namespace_is_refused(temporal_address: str) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        await _connect(temporal_address, "tenant-without-namespace")


async def test_tenants_are_isolated(temporal_address: str, queue: str) -> None:
    client_a = await _connect(temporal_address, "tenant-a")
    client_b = await _connect(temporal_address, "tenant-b")
    assert (client_a.tenant_id, client_a.namespace, client_a.is_durable) == (
        "tenant-a",
        "tenant-a",
        True,
    )
    async with turnout.Worker(
        client_a, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES
    ):
        handle = await _start_waiting(client_a, queue)
        assert (await handle.describe()).tenant_id == "tenant-a"
        wid = handle.id

        other = client_b.get_workflow_handle(wid)
        for attempt in (
            other.describe,
            other.events,
            other.approvals,
            lambda: other.signal(ApprovalWorkflow.finish_now),
            lambda: other.approve("deploy", by="eve"),
            other.cancel,
        ):
            with pytest.raises(WorkflowNotFoundError):
                await attempt()
        assert wid not in {r.workflow_id for r in await client_b.list_workflows()}
        assert wid not in {a.workflow_id for a in await client_b.list_pending_approvals()}
        listed = await _eventually(
            client_a.list_pending_approvals,
            lambda found: wid in {a.workflow_id for a in found},
        )
        assert {a.tenant_id for a in listed} == {"tenant-a"}

        # the same workflow id is free in the other tenant
        twin = await client_b.start_workflow(ApprovalWorkflow.run, None, id=wid, task_queue=queue)
        assert (await twin.describe()).tenant_id == "tenant-b"
        await twin.terminate("test over")

        await handle.approve("deploy", by="alice")
        await _state(handle, RunState.RUNNING)
        await handle.signal(ApprovalWorkflow.finish_now)
        assert await handle.result(timeout=timedelta(seconds=LIMIT)) == "approved by alice"
        [decision] = await handle.policy_decisions()
        assert decision.tenant_id == "tenant-a"
