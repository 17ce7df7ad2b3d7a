"""A temporalio program runs with its import root changed: ``turnout.client``,
``turnout.worker``, ``turnout.common`` and ``turnout.exceptions`` behave as temporalio's
modules do, with ``Client.connect(target)`` choosing the executor, on every executor."""

from __future__ import annotations

import uuid

import pytest

from turnout import RunState, WorkflowAlreadyCompletedError, WorkflowNotFoundError
from turnout.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from turnout.exceptions import (
    ActivityError,
    ApplicationError,
    TemporalError,
    is_cancelled_exception,
)
from turnout.testing.contract.workflows import Greeting
from turnout.testing.contract.workflows_temporalio import (
    TEMPORALIO_ACTIVITIES,
    TEMPORALIO_WORKFLOWS,
    GreetingWorkflow,
)
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


def _id() -> str:
    return f"temporalio-{uuid.uuid4().hex[:12]}"


async def test_client_connect_then_a_run_is_running_until_a_worker_completes_it(
    executor: ExecutorHarness,
) -> None:
    client = await Client.connect(executor.target)
    try:
        assert isinstance(client, Client)
        task_queue = f"unpolled-{uuid.uuid4().hex[:8]}"
        handle = await client.start_workflow(
            GreetingWorkflow.run, "Ada", id=_id(), task_queue=task_queue
        )
        waiting = await handle.describe()
        # Nobody polls the queue yet: Temporal calls such a run RUNNING, whatever turnout's
        # finer state says (queued on the internal executor).
        assert isinstance(waiting, WorkflowExecutionDescription)
        assert waiting.status is WorkflowExecutionStatus.RUNNING
        assert (waiting.id, waiting.close_time) == (handle.id, None)
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=TEMPORALIO_WORKFLOWS,
            activities=TEMPORALIO_ACTIVITIES,
        ):
            assert await handle.result() == "Hello, Ada!"
        done = await handle.describe()
        assert done.status is WorkflowExecutionStatus.COMPLETED
        assert done.close_time is not None
        assert done.close_time >= done.start_time
    finally:
        await client.close()


async def test_failures_arrive_as_temporalios_exception_classes(
    executor: ExecutorHarness,
) -> None:
    client = await Client.connect(executor.target)
    try:
        task_queue = f"failing-{uuid.uuid4().hex[:8]}"
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=TEMPORALIO_WORKFLOWS,
            activities=TEMPORALIO_ACTIVITIES,
        ):
            handle = await client.start_workflow(
                GreetingWorkflow.run, "", id=_id(), task_queue=task_queue
            )
            with pytest.raises(WorkflowFailureError) as info:
                await handle.result()
        activity_error = info.value.cause
        assert isinstance(activity_error, ActivityError)
        assert isinstance(activity_error, TemporalError)
        cause = activity_error.cause
        assert isinstance(cause, ApplicationError)
        assert (cause.type, cause.message) == ("NoName", "a greeting needs a name")
        assert not is_cancelled_exception(activity_error)
        assert (await handle.describe()).status is WorkflowExecutionStatus.FAILED
    finally:
        await client.close()


async def test_client_connect_refuses_an_option_it_cannot_honour_by_name(
    executor: ExecutorHarness,
) -> None:
    with pytest.raises(TemporalError, match="does not take tls"):
        await Client.connect(executor.target, tls=True)
    # Options left at temporalio's default values are no change, so they are accepted.
    client = await Client.connect(executor.target, tls=False, rpc_metadata={}, lazy=False)
    await client.close()


async def test_acting_on_a_closed_run_says_it_already_completed(
    executor: ExecutorHarness,
) -> None:
    handle = await executor.client.start_workflow(
        Greeting.run, "Ada", id=_id(), task_queue=executor.task_queue
    )
    assert await handle.result() == "Hello, Ada!"
    with pytest.raises(WorkflowAlreadyCompletedError, match="already completed"):
        await handle.signal("anything", 1)
    with pytest.raises(WorkflowAlreadyCompletedError, match="already completed"):
        await handle.terminate(reason="too late")
    # Still a WorkflowNotFoundError, for code written before the distinction.
    with pytest.raises(WorkflowNotFoundError):
        await handle.signal("anything", 1)
    # Asking a closed run to cancel does nothing, as on Temporal: it is over either way.
    await handle.cancel()
    assert (await handle.describe()).state is RunState.COMPLETED
    with pytest.raises(WorkflowNotFoundError) as missing:
        await executor.client.get_workflow_handle(_id()).cancel()
    assert not isinstance(missing.value, WorkflowAlreadyCompletedError)


async def test_handles_by_run_method_and_their_run_ids(executor: ExecutorHarness) -> None:
    client = await Client.connect(executor.target)
    try:
        task_queue = f"typed-{uuid.uuid4().hex[:8]}"
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=TEMPORALIO_WORKFLOWS,
            activities=TEMPORALIO_ACTIVITIES,
        ):
            started = await client.start_workflow(
                GreetingWorkflow.run, "Lin", id=_id(), task_queue=task_queue
            )
            # As temporalio's: the start handle addresses the workflow id, and its
            # result starts from the run it started.
            assert started.run_id is None
            assert started.result_run_id is not None
            assert started.first_execution_run_id == started.result_run_id
            typed = client.get_workflow_handle_for(GreetingWorkflow.run, started.id)
            assert await typed.result() == "Hello, Lin!"
    finally:
        await client.close()
