"""Both executors end to end: the internal one on SQLite and PostgreSQL, and a real Temporal.

Every scenario runs unchanged, from the same workflow module, on all three;
the few assertions about executor-private details say which executor they hold for.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

import turnout
from tests import workflows_for_tests as wf
from turnout import (
    ActivityError,
    ApplicationError,
    EventType,
    IdConflictPolicy,
    IdReusePolicy,
    RunState,
    TimeoutError,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
)

pytestmark = pytest.mark.usefixtures("worker")
Q = "tests"


@pytest.fixture
def client(executor_client: Any) -> Any:
    """Every scenario on every executor."""
    return executor_client


def internal(client: Any) -> bool:
    return bool(client.executor == "internal")


LIMIT = timedelta(seconds=30)


def _id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"


def _types(events: list[turnout.Event]) -> list[str]:
    return [e.type.value for e in events]


async def _wait_state(handle: Any, state: RunState) -> None:
    async with asyncio.timeout(20):
        while (await handle.describe()).state is not state:
            await asyncio.sleep(0.02)


async def test_hello_workflow(client: Any) -> None:
    handle = await client.start_workflow(wf.HelloWorkflow.run, "World", id=_id(), task_queue=Q)
    assert await handle.result(timeout=LIMIT) == "HELLO, WORLD!"
    run = await handle.describe()
    assert run.state is RunState.COMPLETED
    assert run.started_at is not None
    assert run.closed_at is not None
    assert run.requested_at <= run.started_at <= run.closed_at
    events = await handle.events()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert {e.correlation_id for e in events} == {run.correlation_id}
    types = _types(events)
    assert types[0] == "workflow_started"
    assert types.count("activity_scheduled") == 2
    assert types.count("activity_completed") == 2
    assert types[-2:] == ["workflow_completed", "state_changed"]
    changes = [
        (e.attributes["from"], e.attributes["to"])
        for e in events
        if e.type is EventType.STATE_CHANGED
    ]
    if internal(client):
        assert changes == [("queued", "claimed"), ("claimed", "running"), ("running", "completed")]
    else:  # Temporal has no claim step
        assert changes == [("queued", "running"), ("running", "completed")]


async def test_execute_workflow_and_handle_by_id(client: Any) -> None:
    wid = _id()
    assert (
        await client.execute_workflow(wf.HelloWorkflow.run, "x", id=wid, task_queue=Q)
        == "HELLO, X!"
    )
    handle = client.get_workflow_handle(wid)
    assert await handle.result(timeout=LIMIT) == "HELLO, X!"
    if not internal(client):
        return  # Temporal's visibility store is eventually consistent
    runs = await client.list_workflows(workflow_type="HelloWorkflow")
    assert wid in {r.workflow_id for r in runs}


async def test_parallel_activities_with_gather(client: Any) -> None:
    names = [f"p{i}" for i in range(6)]
    handle = await client.start_workflow(wf.ParallelWorkflow.run, names, id=_id(), task_queue=Q)
    assert await handle.result(timeout=LIMIT) == [f"Hello, {n}!" for n in names]
    events = await handle.events()
    scheduled = [e for e in events if e.type is EventType.ACTIVITY_SCHEDULED]
    # all six were scheduled by the first workflow task, before any completed
    first_completion = next(e.seq for e in events if e.type is EventType.ACTIVITY_COMPLETED)
    assert len(scheduled) == 6
    assert all(e.seq < first_completion for e in scheduled)


async def test_retries_until_success(client: Any) -> None:
    key = _id()
    handle = await client.start_workflow(wf.RetryWorkflow.run, args=[key, 2], id=key, task_queue=Q)
    assert await handle.result(timeout=LIMIT) == 3  # activity.info().attempt of the success
    assert wf.CALLS[f"flaky:{key}"] == 3
    events = await handle.events()
    if not internal(client):
        return  # Temporal records only the last attempt in history
    retries = [e for e in events if e.type is EventType.RETRY_SCHEDULED]
    assert [e.attributes["attempt"] for e in retries] == [1, 2]
    assert all(e.attributes["failure"]["type"] == "Flaky" for e in retries)
    started = [e.attributes["attempt"] for e in events if e.type is EventType.ACTIVITY_STARTED]
    assert started == [1, 2, 3]


async def test_non_retryable_error_fails_after_one_call(client: Any) -> None:
    key = _id()
    handle = await client.start_workflow(wf.BrokenWorkflow.run, key, id=key, task_queue=Q)
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result(timeout=LIMIT)
    assert isinstance(info.value.cause, ActivityError)
    cause = info.value.cause.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "BadInput"
    assert cause.non_retryable
    assert wf.CALLS[f"broken:{key}"] == 1
    assert (await handle.describe()).state is RunState.FAILED
    assert "retry_scheduled" not in _types(await handle.events())


async def test_start_to_close_timeout_is_enforced(client: Any) -> None:
    handle = await client.start_workflow(wf.TimeoutWorkflow.run, 5.0, id=_id(), task_queue=Q)
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result(timeout=LIMIT)
    activity_error = info.value.cause
    assert isinstance(activity_error, ActivityError)
    assert isinstance(activity_error.cause, TimeoutError)
    assert activity_error.cause.type is turnout.TimeoutType.START_TO_CLOSE
    assert "activity_timed_out" in _types(await handle.events())


async def test_signal_query_and_wait_condition(client: Any) -> None:
    handle = await client.start_workflow(wf.SignalWorkflow.run, id=_id(), task_queue=Q)
    await handle.signal(wf.SignalWorkflow.add, "a")
    await handle.signal("add", "b")
    async with asyncio.timeout(20):
        while await handle.query(wf.SignalWorkflow.count) != 2:
            await asyncio.sleep(0.02)
    await handle.signal("finish")
    assert await handle.result(timeout=LIMIT) == ["a", "b"]
    signals = [
        e.attributes["name"] for e in await handle.events() if e.type is EventType.SIGNAL_RECEIVED
    ]
    assert signals == ["add", "add", "finish"]


async def test_wait_condition_timeout(client: Any) -> None:
    handle = await client.start_workflow(wf.ConditionTimeoutWorkflow.run, id=_id(), task_queue=Q)
    assert await handle.result(timeout=LIMIT) == "timed out"
    types = _types(await handle.events())
    assert "timer_started" in types
    assert "timer_fired" in types


async def test_durable_one_second_timer(client: Any) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    handle = await client.start_workflow(wf.TimerWorkflow.run, 1.0, id=_id(), task_queue=Q)
    elapsed_in_workflow = await handle.result(timeout=LIMIT)
    assert loop.time() - began >= 1.0
    assert elapsed_in_workflow >= 1.05
    timers = [e for e in await handle.events() if e.type is EventType.TIMER_STARTED]
    assert [t.attributes["duration"] for t in timers] == [1.0, 0.05]


async def test_child_workflow(client: Any) -> None:
    wid = _id()
    handle = await client.start_workflow(wf.ParentWorkflow.run, "kid", id=wid, task_queue=Q)
    assert await handle.result(timeout=LIMIT) == "parent got: Hello, kid!"
    types = _types(await handle.events())
    assert types.index("child_workflow_started") < types.index("child_workflow_completed")
    child = await client.get_workflow_handle(f"{wid}-child").describe()
    assert child.state is RunState.COMPLETED
    assert child.parent_workflow_id == wid
    assert child.correlation_id == (await handle.describe()).correlation_id


async def test_child_workflow_failure(client: Any) -> None:
    handle = await client.start_workflow(wf.ParentWorkflow.run, "fail", id=_id(), task_queue=Q)
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result(timeout=LIMIT)
    child_error = info.value.cause
    assert isinstance(child_error, turnout.ChildWorkflowError)
    assert isinstance(child_error.cause, ApplicationError)
    assert child_error.cause.type == "ChildRefused"


async def test_terminate(client: Any) -> None:
    handle = await client.start_workflow(wf.SleepyWorkflow.run, id=_id(), task_queue=Q)
    await _wait_state(handle, RunState.RUNNING)
    await handle.terminate(reason="operator said so")
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result(timeout=LIMIT)
    assert isinstance(info.value.cause, turnout.TerminatedError)
    run = await handle.describe()
    assert run.state is RunState.TERMINATED
    terminated = [e for e in await handle.events() if e.type is EventType.WORKFLOW_TERMINATED]
    assert terminated[0].attributes["reason"] == "operator said so"
    with pytest.raises(turnout.WorkflowNotFoundError):  # a closed run takes no more signals
        await handle.signal("anything")


async def test_duplicate_start_policies(client: Any) -> None:
    wid = _id()
    first = await client.start_workflow(wf.SleepyWorkflow.run, id=wid, task_queue=Q)
    with pytest.raises(WorkflowAlreadyStartedError):
        await client.start_workflow(wf.SleepyWorkflow.run, id=wid, task_queue=Q)
    same = await client.start_workflow(
        wf.SleepyWorkflow.run,
        id=wid,
        task_queue=Q,
        id_conflict_policy=IdConflictPolicy.USE_EXISTING,
    )
    assert same.result_run_id == first.result_run_id
    await first.terminate()
    with pytest.raises(WorkflowAlreadyStartedError):
        await client.start_workflow(
            wf.SleepyWorkflow.run,
            id=wid,
            task_queue=Q,
            id_reuse_policy=IdReusePolicy.REJECT_DUPLICATE,
        )
    again = await client.start_workflow(
        wf.SleepyWorkflow.run, id=wid, task_queue=Q, id_reuse_policy=IdReusePolicy.ALLOW_DUPLICATE
    )
    assert again.result_run_id != first.result_run_id
    await again.terminate()


async def test_idempotency_key_returns_the_same_run(client: Any) -> None:
    if not internal(client):
        with pytest.raises(turnout.ConfigurationError, match="workflow id"):
            await client.start_workflow(
                wf.HelloWorkflow.run, "k", id=_id(), task_queue=Q, idempotency_key=_id()
            )
        return
    key = _id()
    a = await client.start_workflow(
        wf.HelloWorkflow.run, "k", id=_id(), task_queue=Q, idempotency_key=key
    )
    b = await client.start_workflow(
        wf.HelloWorkflow.run, "k", id=_id(), task_queue=Q, idempotency_key=key
    )
    assert a.result_run_id == b.result_run_id
    assert await a.result(timeout=LIMIT) == "HELLO, K!"


async def test_concurrent_duplicate_starts_make_one_run(client: Any) -> None:
    wid = _id()
    outcomes = await asyncio.gather(
        *(client.start_workflow(wf.SleepyWorkflow.run, id=wid, task_queue=Q) for _ in range(5)),
        return_exceptions=True,
    )
    started = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(started) == 1
    assert all(isinstance(o, WorkflowAlreadyStartedError) for o in outcomes if o not in started)
    await started[0].terminate()


async def test_continue_as_new(client: Any) -> None:
    handle = await client.start_workflow(
        wf.CountdownWorkflow.run, args=[3, 0], id=_id(), task_queue=Q
    )
    assert await handle.result(timeout=LIMIT) == 6
    first = await client.get_workflow_handle(handle.id, run_id=handle.result_run_id).describe()
    assert first.state is RunState.CONTINUED_AS_NEW
    latest = await client.get_workflow_handle(handle.id).describe()
    assert latest.state is RunState.COMPLETED
    assert latest.run_id != handle.result_run_id


async def test_pydantic_model_in_and_out(client: Any) -> None:
    order = wf.Order(order_id="o-1", amount=21)
    handle = await client.start_workflow(wf.OrderWorkflow.run, order, id=_id(), task_queue=Q)
    receipt = await handle.result(timeout=LIMIT)
    assert receipt == wf.Receipt(order_id="o-1", total=42, approved=True)


async def test_dataclass_payloads(client: Any) -> None:
    lines = [wf.Line("a", 2), wf.Line("b", 3)]
    assert await client.execute_workflow(wf.LinesWorkflow.run, lines, id=_id(), task_queue=Q) == 5


async def test_a_retry_resumes_from_the_last_heartbeat(client: Any) -> None:
    result = await client.execute_workflow(wf.ResumeWorkflow.run, 5, id=_id(), task_queue=Q)
    assert result == [2, 5]  # attempt 2 saw the last of five quick heartbeats


async def test_result_by_id_decodes_to_the_declared_type(client: Any) -> None:
    wid = _id()
    order = wf.Order(order_id="o-9", amount=5)
    await client.execute_workflow(wf.OrderWorkflow.run, order, id=wid, task_queue=Q)
    receipt = await client.get_workflow_handle(wid).result(timeout=LIMIT)
    assert isinstance(receipt, wf.Receipt)
    assert receipt.total == 10


async def test_cancel_before_the_first_workflow_task(client: Any) -> None:
    queue = f"later-{uuid.uuid4().hex[:8]}"  # no worker polls it yet
    handle = await client.start_workflow(
        wf.CancellableWorkflow.run, _id(), id=_id(), task_queue=queue
    )
    await handle.cancel()
    async with turnout.Worker(
        client, task_queue=queue, workflows=[wf.CancellableWorkflow], activities=[wf.greet]
    ):
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=LIMIT)
    assert isinstance(info.value.cause, turnout.CancelledError)
    assert (await handle.describe()).state is RunState.CANCELED


async def test_a_result_that_does_not_match_its_type_fails_the_task_visibly(client: Any) -> None:
    handle = await client.start_workflow(wf.MistypedWorkflow.run, id=_id(), task_queue=Q)

    async def task_failed() -> bool:
        return any(e.type is EventType.WORKFLOW_TASK_FAILED for e in await handle.events())

    async with asyncio.timeout(20):
        while not await task_failed():
            await asyncio.sleep(0.05)
    assert (await handle.describe()).state is RunState.RUNNING  # not corrupted, not closed
    await handle.terminate(reason="fixed by a deploy, in real life")
