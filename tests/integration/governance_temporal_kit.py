"""What the Temporal governance tests (``test_governance_temporal*.py``) share.

The workflows, activities and policy they run (Temporal's sandbox imports them from
here), the ``queue``, ``client`` and ``worker`` fixtures the test modules import, and
the waits and event summaries they compare.
"""

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
    activity,
    workflow,
)
from turnout.contracts import (
    DecisionOutcome,
    PolicyRequest,
    Verdict,
)

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


async def connect_client(address: str, tenant_id: str = "default") -> Any:
    return await turnout.connect(
        executor="temporal", temporal_address=address, tenant_id=tenant_id, namespace="default"
    )


@pytest.fixture
def queue() -> str:
    return f"gov-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def client(temporal_address: str) -> AsyncIterator[Any]:
    c = await connect_client(temporal_address)
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


def new_id() -> str:
    return f"gov-{uuid.uuid4().hex[:12]}"


async def eventually(probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool]) -> T:
    """``probe()`` until ``ok(value)``, within LIMIT seconds (Temporal answers asynchronously)."""
    async with asyncio.timeout(LIMIT):
        while True:
            value = await probe()
            if ok(value):
                return value
            await asyncio.sleep(0.05)


async def wait_state(handle: Any, state: RunState) -> None:
    await eventually(handle.describe, lambda run: run.state is state)


def changes(events: list[turnout.Event]) -> list[tuple[str, str]]:
    return [
        (e.attributes["from"], e.attributes["to"])
        for e in events
        if e.type is EventType.STATE_CHANGED
    ]


def governance_events(events: list[turnout.Event]) -> list[str]:
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


async def start_waiting(client: Any, queue: str, timeout: float | None = None) -> Any:
    """An ApprovalWorkflow that is waiting on its approval ``deploy``."""
    handle = await client.start_workflow(
        ApprovalWorkflow.run, timeout, id=new_id(), task_queue=queue
    )
    await wait_state(handle, RunState.RUNNING)
    await handle.signal(ApprovalWorkflow.start_now)
    await wait_state(handle, RunState.WAITING_APPROVAL)
    return handle
