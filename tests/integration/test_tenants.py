"""Tenant isolation on the internal executor: tenant B never sees or touches tenant A's runs,
through any client method or any command."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from click.testing import CliRunner

import turnout
from tests import governance_workflows as gw
from turnout import (
    ConfigurationError,
    DecisionOutcome,
    RunState,
    WorkflowNotFoundError,
)
from turnout.cli import cli

Q = "tenants"


async def _tenant_a_waits(url: str, workflow_id: str, **settings: Any) -> None:
    """Tenant A: one Deploy run waiting on its approval, and one finished Reports run."""
    settings = settings or {"executor": "internal", "database_url": url}
    a = await turnout.connect(**settings, tenant="tenant-a")
    try:
        async with turnout.Worker(
            a, task_queue=Q, workflows=gw.WORKFLOWS, activities=gw.ACTIVITIES
        ):
            handle = await a.start_workflow(gw.Deploy.run, "prod", id=workflow_id, task_queue=Q)
            report = await a.start_workflow(gw.Reports.run, id=f"{workflow_id}-r", task_queue=Q)
            await asyncio.wait_for(report.result(), 20)
            async with asyncio.timeout(20):
                while (await handle.describe()).state is not RunState.WAITING_APPROVAL:
                    await asyncio.sleep(0.02)
    finally:
        await a.close()


async def test_tenant_b_cannot_see_signal_decide_cancel_or_list_tenant_a_runs(
    database_url: str,
) -> None:
    workflow_id = f"deploy-{uuid.uuid4().hex[:8]}"
    await _tenant_a_waits(database_url, workflow_id)
    a = await turnout.connect(executor="internal", database_url=database_url, tenant="tenant-a")
    b = await turnout.connect(executor="internal", database_url=database_url, tenant="tenant-b")
    try:
        mine = a.get_workflow_handle(workflow_id)
        before = await mine.events()
        theirs = b.get_workflow_handle(workflow_id)
        reports = b.get_workflow_handle(f"{workflow_id}-r")
        attempts: dict[str, Callable[[], Awaitable[Any]]] = {
            "describe": theirs.describe,
            "events": theirs.events,
            "result": lambda: theirs.result(),
            "signal": lambda: theirs.signal("anything", 1),
            "query": lambda: theirs.query("status"),
            "cancel": theirs.cancel,
            "terminate": lambda: theirs.terminate("not yours"),
            "approve": lambda: theirs.approve("deploy", by="mallory"),
            "reject": lambda: theirs.reject("deploy", by="mallory"),
            "approvals": theirs.approvals,
            "policy_decisions": theirs.policy_decisions,
            "artifacts": reports.artifacts,
        }
        for name, attempt in attempts.items():
            with pytest.raises(WorkflowNotFoundError):
                await attempt()
            assert name  # every path tried

        assert await b.list_workflows() == []
        assert await b.list_pending_approvals() == []
        # Tenant A's run is untouched, and still waits on its approval.
        assert (await mine.describe()).state is RunState.WAITING_APPROVAL
        assert await mine.events() == before
        assert [p.workflow_id for p in await a.list_pending_approvals()] == [workflow_id]
        assert len(await a.get_workflow_handle(f"{workflow_id}-r").artifacts()) == 2
        # Workflow ids are per tenant: B may use the same id for its own run.
        own = await b.start_workflow(gw.Deploy.run, "dev", id=workflow_id, task_queue=Q)
        assert (await own.describe()).tenant_id == "tenant-b"
        assert (await mine.describe()).run_id != own.result_run_id
    finally:
        await a.close()
        await b.close()


@pytest.fixture(params=["sqlite", "postgres", "temporal"])
def cli_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    """Connection settings of each executor (the Temporal server has tenant namespaces)."""
    if request.param == "temporal":
        return {
            "executor": "temporal",
            "temporal_address": request.getfixturevalue("temporal_address"),
        }
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return {"executor": "internal", "database_url": request.getfixturevalue(fixture)}


def test_tenant_b_commands_do_not_reach_tenant_a_runs(cli_settings: dict[str, str]) -> None:
    workflow_id = f"deploy-{uuid.uuid4().hex[:8]}"
    asyncio.run(_tenant_a_waits("", workflow_id, **cli_settings))
    runner = CliRunner()
    options = [f"--{key.replace('_', '-')}={value}" for key, value in cli_settings.items()]

    def turnout_as(tenant: str, *args: str) -> Any:
        return runner.invoke(cli, [*options, "--tenant", tenant, *args])

    refused = [
        ["describe", workflow_id],
        ["events", workflow_id],
        ["signal", workflow_id, "anything", "1"],
        ["cancel", workflow_id],
        ["terminate", workflow_id, "--reason", "not yours"],
        ["approve", workflow_id, "deploy", "--by", "mallory"],
        ["reject", workflow_id, "deploy", "--by", "mallory"],
        ["decisions", workflow_id],
        ["artifacts", f"{workflow_id}-r"],
    ]
    for args in refused:
        done = turnout_as("tenant-b", *args)
        assert done.exit_code == 1, (args, done.output)
        assert "not found" in done.output, (args, done.output)
    listed = turnout_as("tenant-b", "list", "--json")
    assert listed.exit_code == 0
    assert workflow_id not in listed.output
    pending = turnout_as("tenant-b", "approvals")
    assert (pending.exit_code, pending.output.strip()) == (0, "no approval is pending")

    seen = turnout_as("tenant-a", "approvals", "--json")
    deadline = time.monotonic() + 20  # Temporal's visibility (listing) catches up shortly
    while workflow_id not in seen.output and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = turnout_as("tenant-a", "approvals", "--json")
    assert seen.exit_code == 0
    assert workflow_id in seen.output
    decided = turnout_as("tenant-a", "approve", workflow_id, "deploy", "--by", "alice")
    assert decided.exit_code == 0, decided.output
    assert "approved by alice" in decided.output
    again = turnout_as("tenant-a", "approve", workflow_id, "deploy", "--by", "alice")
    assert again.exit_code == 1
    assert "already decided" in again.output
    artifacts = turnout_as("tenant-a", "artifacts", f"{workflow_id}-r", "--json")
    assert artifacts.output.count("file:///reports/") == 2

    async def decisions() -> list[turnout.PolicyDecision]:
        a = await turnout.connect(**cli_settings, tenant="tenant-a")
        try:
            return list(await a.get_workflow_handle(workflow_id).policy_decisions())
        finally:
            await a.close()

    # One decision recorded (on Temporal the workflow applies it when a worker next runs it).
    [decision] = asyncio.run(decisions())
    assert (decision.name, decision.outcome, decision.decided_by) == (
        "deploy",
        DecisionOutcome.APPROVED,
        "alice",
    )


@pytest.mark.parametrize("tenant", ["", "   ", "acme corp", "${TENANT}", "changeme", "x" * 129])
async def test_a_bad_tenant_id_is_refused_with_the_fix(tenant: str, sqlite_url: str) -> None:
    with pytest.raises(ConfigurationError, match="tenant"):
        await turnout.connect(executor="internal", database_url=sqlite_url, tenant=tenant)


async def test_two_different_tenant_arguments_are_refused(sqlite_url: str) -> None:
    with pytest.raises(ConfigurationError, match="only one"):
        await turnout.connect(database_url=sqlite_url, tenant="a", tenant_id="b")


async def test_a_worker_runs_only_its_own_tenants_work(database_url: str) -> None:
    a = await turnout.connect(executor="internal", database_url=database_url, tenant="tenant-a")
    b = await turnout.connect(executor="internal", database_url=database_url, tenant="tenant-b")
    try:
        theirs = await a.start_workflow(gw.Reports.run, id="reports", task_queue=Q)
        mine = await b.start_workflow(gw.Reports.run, id="reports", task_queue=Q)
        worker = turnout.Worker(b, task_queue=Q, workflows=gw.WORKFLOWS, activities=gw.ACTIVITIES)
        async with worker:
            await asyncio.wait_for(mine.result(), 20)
        # Tenant A's run was enqueued first, yet tenant B's worker never claimed it.
        assert (await theirs.describe()).state is RunState.QUEUED
        assert [e.type.value for e in await theirs.events()] == ["workflow_started"]
    finally:
        await a.close()
        await b.close()
