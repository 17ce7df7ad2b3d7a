"""The contract: every scenario gives the same result, states and normalized timeline on
every executor. Run it with ``pytest --pyargs turnout.testing.contract``."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

import turnout
from turnout import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    IdConflictPolicy,
    IdReusePolicy,
    RunState,
    TimeoutType,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
)
from turnout.testing.contract import workflows as wf
from turnout.testing.harness import ExecutorHarness
from turnout.testing.timeline import normalize

pytestmark = pytest.mark.asyncio
LIMIT = timedelta(seconds=30)

Step = tuple[str, dict[str, Any]]
STARTED: Step = ("workflow_started", {})
COMPLETED: Step = ("workflow_completed", {})
FAILED: Step = ("workflow_failed", {})


def scheduled(activity_type: str) -> tuple[str, dict[str, Any]]:
    return ("activity_scheduled", {"activity_type": activity_type})


def done(activity_type: str, attempt: int = 1) -> tuple[str, dict[str, Any]]:
    return ("activity_completed", {"activity_type": activity_type, "attempt": attempt})


def _id() -> str:
    return f"contract-{uuid.uuid4().hex[:12]}"


async def start(executor: ExecutorHarness, workflow: Any, *args: Any, **options: Any) -> Any:
    return await executor.client.start_workflow(
        workflow, args=list(args), id=options.pop("id", _id()), task_queue=executor.task_queue,
        **options,
    )  # fmt: skip


async def timeline(handle: Any) -> list[tuple[str, dict[str, Any]]]:
    return normalize(await handle.events())


async def until(predicate: Any, timeout: float = 20) -> None:
    """Wait (bounded) until ``await predicate()`` is true."""
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.02)


async def in_state(handle: Any, state: RunState) -> bool:
    return bool((await handle.describe()).state is state)


async def has_event(handle: Any, event_type: str) -> bool:
    return any(e.type.value == event_type for e in await handle.events())


async def failure_of(handle: Any) -> BaseException:
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result(timeout=LIMIT)
    return info.value.cause


async def test_activity_success(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.Greeting.run, "contract")
    assert await handle.result(timeout=LIMIT) == "Hello, contract!"
    assert (await handle.describe()).state is RunState.COMPLETED
    assert await timeline(handle) == [STARTED, scheduled("greet"), done("greet"), COMPLETED]


async def test_retry_then_success(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.RetryThenSucceed.run, 2)
    assert await handle.result(timeout=LIMIT) == 3
    assert await timeline(handle) == [STARTED, scheduled("flaky"), done("flaky", 3), COMPLETED]


async def test_non_retryable_failure(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.NonRetryable.run)
    cause = await failure_of(handle)
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "BadInput"
    assert cause.cause.non_retryable
    assert (await handle.describe()).state is RunState.FAILED
    assert await timeline(handle) == [
        STARTED,
        scheduled("broken"),
        ("activity_failed", {"activity_type": "broken", "attempt": 1}),
        FAILED,
    ]


@pytest.mark.parametrize(
    ("workflow", "activity_type", "timeout_type"),
    [
        (wf.StartToCloseTimeout, "slow", TimeoutType.START_TO_CLOSE),
        (wf.ScheduleToCloseTimeout, "slow", TimeoutType.SCHEDULE_TO_CLOSE),
        (wf.HeartbeatTimeout, "stall_after_one_beat", TimeoutType.HEARTBEAT),
    ],
    ids=["start_to_close", "schedule_to_close", "heartbeat"],
)
async def test_activity_timeouts(
    executor: ExecutorHarness, workflow: type, activity_type: str, timeout_type: TimeoutType
) -> None:
    handle = await start(executor, workflow.run)  # type: ignore[attr-defined]
    cause = await failure_of(handle)
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, turnout.TimeoutError)
    assert cause.cause.type is timeout_type
    assert (await handle.describe()).state is RunState.FAILED
    assert await timeline(handle) == [
        STARTED,
        scheduled(activity_type),
        ("activity_timed_out", {"activity_type": activity_type}),
        FAILED,
    ]


async def test_signal_and_query(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.Signals.run)
    await handle.signal(wf.Signals.add, "a")
    await handle.signal("add", "b")

    async def counted_two() -> bool:
        return bool(await handle.query(wf.Signals.count) == 2)

    await until(counted_two)
    await until(lambda: in_state(handle, RunState.RUNNING))
    await handle.signal(wf.Signals.finish)
    assert await handle.result(timeout=LIMIT) == ["a", "b"]
    assert await timeline(handle) == [
        STARTED,
        ("signal_received", {"name": "add"}),
        ("signal_received", {"name": "add"}),
        ("signal_received", {"name": "finish"}),
        COMPLETED,
    ]


async def test_signals_whose_arguments_do_not_fit_are_dropped(executor: ExecutorHarness) -> None:
    """As on Temporal: such a signal is logged and dropped; the run goes on, and the
    signals that fit still arrive."""
    handle = await start(executor, wf.TypedSignals.run)
    await handle.signal("add", "not a number")
    await handle.signal("add", args=[1, 2])
    await handle.signal("add")
    await handle.signal(wf.TypedSignals.add, 5)
    await handle.signal(wf.TypedSignals.finish)
    assert await handle.result(timeout=LIMIT) == [5]
    assert (await handle.describe()).state is RunState.COMPLETED
    received = [("signal_received", {"name": "add"})] * 4
    assert await timeline(handle) == [
        STARTED,
        *received,
        ("signal_received", {"name": "finish"}),
        COMPLETED,
    ]


async def test_wait_condition_with_timeout(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.ConditionTimeout.run)
    assert await handle.result(timeout=LIMIT) == "timed out"
    assert await timeline(handle) == [
        STARTED,
        ("timer_started", {"duration": 0.3}),
        ("timer_fired", {}),
        COMPLETED,
    ]


async def test_timer(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.Timer.run)
    assert await handle.result(timeout=LIMIT) == "woke"
    assert await timeline(handle) == [
        STARTED,
        ("timer_started", {"duration": 0.5}),
        ("timer_fired", {}),
        COMPLETED,
    ]


async def test_child_workflow_success(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.Parent.run, "kid")
    assert await handle.result(timeout=LIMIT) == "parent got: child says hi to kid"
    assert await timeline(handle) == [
        STARTED,
        ("child_workflow_started", {"workflow_type": "Child"}),
        ("child_workflow_completed", {}),
        COMPLETED,
    ]
    child = await executor.client.get_workflow_handle(f"{handle.id}-child").describe()
    assert child.state is RunState.COMPLETED
    assert child.parent_workflow_id == handle.id


async def test_child_workflow_failure(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.Parent.run, "fail")
    cause = await failure_of(handle)
    assert isinstance(cause, ChildWorkflowError)
    assert isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "ChildRefused"
    assert await timeline(handle) == [
        STARTED,
        ("child_workflow_started", {"workflow_type": "Child"}),
        ("child_workflow_failed", {}),
        FAILED,
    ]


async def test_cancel_with_cleanup(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.CancelWithCleanup.run)

    async def activity_running() -> bool:
        return handle.id in wf.RUNNING_ACTIVITIES

    await until(activity_running)
    assert (await handle.describe()).state is RunState.RUNNING
    await handle.cancel()
    cause = await failure_of(handle)
    assert isinstance(cause, turnout.CancelledError)
    assert (await handle.describe()).state is RunState.CANCELED
    assert await timeline(handle) == [
        STARTED,
        scheduled("wait_for_cancel"),
        ("workflow_cancel_requested", {}),
        ("activity_cancel_requested", {"activity_type": "wait_for_cancel"}),
        scheduled("greet"),
        done("greet"),
        ("workflow_canceled", {}),
    ]


async def test_terminate(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.Sleeper.run)
    await until(lambda: has_event(handle, "timer_started"))
    assert (await handle.describe()).state is RunState.RUNNING
    await handle.terminate(reason="contract")
    cause = await failure_of(handle)
    assert isinstance(cause, turnout.TerminatedError)
    assert (await handle.describe()).state is RunState.TERMINATED
    assert await timeline(handle) == [
        STARTED,
        ("timer_started", {"duration": 3600.0}),
        ("workflow_terminated", {}),
    ]


async def test_continue_as_new(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.Countdown.run, 2, 0)
    assert await handle.result(timeout=LIMIT) == 3
    first = executor.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    assert (await first.describe()).state is RunState.CONTINUED_AS_NEW
    assert await timeline(first) == [STARTED, ("workflow_continued_as_new", {})]
    latest = executor.client.get_workflow_handle(handle.id)
    assert (await latest.describe()).state is RunState.COMPLETED
    assert await timeline(latest) == [STARTED, COMPLETED]


async def test_duplicate_start_under_each_policy(executor: ExecutorHarness) -> None:
    wid = _id()
    first = await start(executor, wf.Sleeper.run, id=wid)
    with pytest.raises(WorkflowAlreadyStartedError):
        await start(executor, wf.Sleeper.run, id=wid, id_conflict_policy=IdConflictPolicy.FAIL)
    same = await start(
        executor, wf.Sleeper.run, id=wid, id_conflict_policy=IdConflictPolicy.USE_EXISTING
    )
    assert same.result_run_id == first.result_run_id
    replaced = await start(
        executor, wf.Sleeper.run, id=wid, id_conflict_policy=IdConflictPolicy.TERMINATE_EXISTING
    )
    assert replaced.result_run_id != first.result_run_id
    old = executor.client.get_workflow_handle(wid, run_id=first.result_run_id)
    assert (await old.describe()).state is RunState.TERMINATED
    await replaced.terminate()
    with pytest.raises(WorkflowAlreadyStartedError):
        await start(
            executor, wf.Sleeper.run, id=wid, id_reuse_policy=IdReusePolicy.REJECT_DUPLICATE
        )
    # ALLOW_DUPLICATE_FAILED_ONLY: a terminated run counts as failed; a completed one does not.
    again = await start(
        executor,
        wf.Greeting.run,
        "again",
        id=wid,
        id_reuse_policy=IdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )
    assert await again.result(timeout=LIMIT) == "Hello, again!"
    with pytest.raises(WorkflowAlreadyStartedError):
        await start(
            executor,
            wf.Greeting.run,
            "no",
            id=wid,
            id_reuse_policy=IdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    fresh = await start(
        executor, wf.Greeting.run, "fresh", id=wid, id_reuse_policy=IdReusePolicy.ALLOW_DUPLICATE
    )
    assert await fresh.result(timeout=LIMIT) == "Hello, fresh!"


async def test_pydantic_payloads(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.Pricing.run, wf.Order(order_id="o-1", amount=21))
    assert await handle.result(timeout=LIMIT) == wf.Receipt(order_id="o-1", total=42)


async def test_dataclass_payloads(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.Lines.run, [wf.Line("a", 2), wf.Line("b", 3)])
    assert await handle.result(timeout=LIMIT) == 5


async def test_patched(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.Patched.run)
    assert await handle.result(timeout=LIMIT) == "done"
    assert await timeline(handle) == [
        STARTED,
        ("marker_recorded", {"patch_id": "greet-first"}),
        scheduled("greet"),
        done("greet"),
        COMPLETED,
    ]


async def test_approval_granted(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.Approval.run)
    await until(lambda: in_state(handle, RunState.WAITING_APPROVAL))
    [pending] = await handle.approvals()
    assert (pending.name, pending.details) == ("publish", {"what": "report"})

    decision = await handle.approve("publish", by="alice", reason="looks right")

    assert (decision.outcome.value, decision.decided_by) == ("approved", "alice")
    assert await handle.result(timeout=LIMIT) == "report"
    assert (await handle.describe()).state is RunState.COMPLETED
    [artifact] = await handle.artifacts()
    assert (artifact.name, artifact.uri, artifact.size_bytes) == (
        "report",
        "file:///out/report.txt",
        5,
    )
    assert await timeline(handle) == [
        STARTED,
        ("approval_requested", {"name": "publish"}),
        ("approval_decided", {"name": "publish", "outcome": "approved"}),
        scheduled("publish"),
        ("artifact_recorded", {"name": "report"}),
        done("publish"),
        COMPLETED,
    ]


async def test_approval_rejected_then_deciding_again_is_refused(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.Approval.run)
    await until(lambda: in_state(handle, RunState.WAITING_APPROVAL))
    with pytest.raises(turnout.ApprovalNotFoundError):
        await handle.approve("deploy", by="alice")

    await handle.reject("publish", by="bob", reason="not today")

    assert await handle.result(timeout=LIMIT) == "rejected"
    with pytest.raises((turnout.ApprovalAlreadyDecidedError, turnout.WorkflowNotFoundError)):
        await handle.approve("publish", by="alice")
    assert await timeline(handle) == [
        STARTED,
        ("approval_requested", {"name": "publish"}),
        ("approval_decided", {"name": "publish", "outcome": "rejected"}),
        COMPLETED,
    ]


async def test_approval_timed_out(executor: ExecutorHarness) -> None:
    handle = await start(executor, wf.Approval.run, 0.5)
    assert await handle.result(timeout=LIMIT) == "timed_out"
    assert [(a.name, a.state.value) for a in await handle.approvals()] == [("publish", "timed_out")]
    steps = [s for s in await timeline(handle) if not s[0].startswith("timer_")]
    assert steps == [
        STARTED,
        ("approval_requested", {"name": "publish"}),
        ("approval_decided", {"name": "publish", "outcome": "timed_out"}),
        COMPLETED,
    ]
