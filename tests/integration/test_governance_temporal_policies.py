"""Governance on the Temporal executor, policies, artifacts and tenants, on a real
Temporal dev server (the ``tenant-a`` / ``tenant-b`` namespaces come from the plugin;
the definitions are in governance_temporal_kit.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

import turnout
from tests.integration.governance_temporal_kit import (
    ACTIVITIES,
    CALLS,
    CONSULTED,
    LIMIT,
    WORKFLOWS,
    ApprovalWorkflow,
    GovernedWorkflow,
    connect_client,
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
    WorkflowNotFoundError,
)
from turnout.contracts import (
    ConfigurationError,
)
from turnout.executors.temporal import namespace_for_tenant

pytestmark = pytest.mark.temporal


# -- policies and artifacts --------------------------------------------------------------


@pytest.mark.usefixtures("worker")
async def test_policies_deny_hold_for_approval_and_record_artifacts(
    client: Any, queue: str
) -> None:
    key = uuid.uuid4().hex[:8]
    handle = await client.start_workflow(GovernedWorkflow.run, key, id=new_id(), task_queue=queue)
    await wait_state(handle, RunState.WAITING_APPROVAL)
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
    assert governance_events(events) == [
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
        await connect_client(temporal_address, "tenant-without-namespace")


async def test_tenants_are_isolated(temporal_address: str, queue: str) -> None:
    client_a = await connect_client(temporal_address, "tenant-a")
    client_b = await connect_client(temporal_address, "tenant-b")
    assert (client_a.tenant_id, client_a.namespace, client_a.is_durable) == (
        "tenant-a",
        "tenant-a",
        True,
    )
    async with turnout.Worker(
        client_a, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES
    ):
        handle = await start_waiting(client_a, queue)
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
        listed = await eventually(
            client_a.list_pending_approvals,
            lambda found: wid in {a.workflow_id for a in found},
        )
        assert {a.tenant_id for a in listed} == {"tenant-a"}

        # the same workflow id is free in the other tenant
        twin = await client_b.start_workflow(ApprovalWorkflow.run, None, id=wid, task_queue=queue)
        assert (await twin.describe()).tenant_id == "tenant-b"
        await twin.terminate("test over")

        await handle.approve("deploy", by="alice")
        await wait_state(handle, RunState.RUNNING)
        await handle.signal(ApprovalWorkflow.finish_now)
        assert await handle.result(timeout=timedelta(seconds=LIMIT)) == "approved by alice"
        [decision] = await handle.policy_decisions()
        assert decision.tenant_id == "tenant-a"
