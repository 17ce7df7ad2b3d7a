"""Updates behave as on Temporal on every executor: validated, accepted or rejected,
completed with a result or a failure, deduplicated by id, waited for by stage, recorded
(accepted and completed, not rejected) on the timeline."""

from __future__ import annotations

import uuid

import pytest

from turnout import (
    ApplicationError,
    IdConflictPolicy,
    WorkflowAlreadyCompletedError,
    WorkflowAlreadyStartedError,
)
from turnout.client import (
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateStage,
)
from turnout.testing.contract.workflows_updates import UPDATE_WORKFLOWS, Cart
from turnout.testing.harness import ExecutorHarness
from turnout.testing.timeline import normalize
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


def _id(prefix: str = "cart") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_updates_are_validated_accepted_completed_and_recorded(
    executor: ExecutorHarness,
) -> None:
    task_queue = _id("updates")
    async with Worker(executor.client, task_queue=task_queue, workflows=UPDATE_WORKFLOWS):
        handle = await executor.client.start_workflow(Cart.run, id=_id(), task_queue=task_queue)
        assert await handle.execute_update(Cart.add_item, "apple", id="add-1") == 1

        # The same update id again: the first outcome, the handler not run twice.
        assert await handle.execute_update(Cart.add_item, "pear", id="add-1") == 1

        # A validator that raises rejects the update; the workflow never sees it.
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await handle.execute_update(Cart.add_item, "", id="add-2")
        assert isinstance(rejected.value.cause, ApplicationError)
        assert rejected.value.cause.type == "ValueError"
        assert "an item needs a name" in rejected.value.cause.message

        # No handler of that name: rejected too.
        with pytest.raises(WorkflowUpdateFailedError) as unknown:
            await handle.execute_update("remove_item", "apple", id="remove-1")
        assert "expected but not found" in str(unknown.value.cause)

        # A handler that raises ApplicationError fails its update; the workflow goes on.
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(Cart.reserve, "sold-out", id="reserve-1")
        assert isinstance(failed.value.cause, ApplicationError)
        assert failed.value.cause.type == "SoldOut"

        # Waiting for acceptance only, then for the result through the handle.
        started = await handle.start_update(
            Cart.reserve, "plum", id="reserve-2", wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        assert isinstance(started, WorkflowUpdateHandle)
        assert (started.id, started.workflow_id) == ("reserve-2", handle.id)
        assert await started.result() == "reserved plum"
        assert await handle.get_update_handle("reserve-2").result() == "reserved plum"
        assert await handle.get_update_handle_for(Cart.add_item, "add-1").result() == 1

        assert await handle.query(Cart.updates_seen) == ["add_item:add-1"]
        assert await handle.execute_update("close", id="close-1") == 2
        assert await handle.result() == ["apple", "reserved plum"]

        with pytest.raises(WorkflowAlreadyCompletedError):
            await handle.execute_update(Cart.add_item, "late", id="add-3")

    assert [step for step in normalize(await handle.events()) if "update" in step[0]] == [
        ("workflow_update_accepted", {"name": "add_item"}),
        ("workflow_update_completed", {}),
        ("workflow_update_accepted", {"name": "reserve"}),
        ("workflow_update_completed", {}),
        ("workflow_update_accepted", {"name": "reserve"}),
        ("workflow_update_completed", {}),
        ("workflow_update_accepted", {"name": "close"}),
        ("workflow_update_completed", {}),
    ]


async def test_admitted_is_not_a_stage_to_wait_for(executor: ExecutorHarness) -> None:
    handle = await executor.client.start_workflow(
        Cart.run, id=_id(), task_queue=executor.task_queue
    )
    with pytest.raises(ValueError, match="ACCEPTED or COMPLETED"):
        await handle.start_update(
            Cart.add_item, "apple", wait_for_stage=WorkflowUpdateStage.ADMITTED
        )
    await handle.terminate(reason="done")


async def test_update_with_start_starts_or_uses_the_open_run(executor: ExecutorHarness) -> None:
    task_queue = _id("with-start")
    workflow_id = _id()

    def operation(policy: IdConflictPolicy) -> WithStartWorkflowOperation:
        return WithStartWorkflowOperation(
            Cart.run, id=workflow_id, task_queue=task_queue, id_conflict_policy=policy
        )

    async with Worker(executor.client, task_queue=task_queue, workflows=UPDATE_WORKFLOWS):
        first = operation(IdConflictPolicy.USE_EXISTING)
        assert (
            await executor.client.execute_update_with_start_workflow(
                Cart.add_item, "apple", start_workflow_operation=first, id="add-1"
            )
            == 1
        )
        handle = await first.workflow_handle()
        second = operation(IdConflictPolicy.USE_EXISTING)
        accepted = await executor.client.start_update_with_start_workflow(
            Cart.add_item, "pear", start_workflow_operation=second, id="add-2",
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )  # fmt: skip
        assert await accepted.result() == 2
        assert (await second.workflow_handle()).result_run_id == handle.result_run_id

        refused = operation(IdConflictPolicy.FAIL)
        with pytest.raises(WorkflowAlreadyStartedError):
            await executor.client.execute_update_with_start_workflow(
                Cart.add_item, "plum", start_workflow_operation=refused
            )
        with pytest.raises(WorkflowAlreadyStartedError):
            await refused.workflow_handle()

        await handle.execute_update("close", id="close-1")
        assert await handle.result() == ["apple", "pear"]
    assert normalize(await handle.events()) == [
        ("workflow_started", {}),
        ("workflow_update_accepted", {"name": "add_item"}),
        ("workflow_update_completed", {}),
        ("workflow_update_accepted", {"name": "add_item"}),
        ("workflow_update_completed", {}),
        ("workflow_update_accepted", {"name": "close"}),
        ("workflow_update_completed", {}),
        ("workflow_completed", {}),
    ]
