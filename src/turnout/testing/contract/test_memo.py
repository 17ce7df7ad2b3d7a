"""A run's memo agrees on every executor: given at the start, read by the workflow
(``workflow.memo()``, ``memo_value`` with a type hint), changed by ``upsert_memo`` (None
removes a key) and recorded as ``workflow_properties_modified``, shown by ``describe()``.
Continue-as-new gives the next run the memo the run started with (as Temporal does), a
child gets the memo its parent gives, turnout's own memo keys stay hidden, and a memo
that cannot be kept is refused before anything starts."""

from __future__ import annotations

import uuid

import pytest

from turnout.contracts.errors import WorkflowNotFoundError
from turnout.contracts.events import EventType
from turnout.contracts.limits import InvalidInputError
from turnout.testing.contract.workflows_memo import MEMO_WORKFLOWS, MemoKeeper, MemoParent, Order
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio

START_MEMO = {"order": Order("acme", 42), "note": "rush", "count": 1}
STORED = {"order": {"customer": "acme", "total": 42}, "note": "rush", "count": 1}
UPSERTED = {"order": {"customer": "acme", "total": 42}, "count": 1, "stage": "packed"}


async def test_memo_from_start_to_upsert_to_continue_as_new(executor: ExecutorHarness) -> None:
    client = executor.client
    task_queue = f"memo-{uuid.uuid4().hex[:8]}"
    workflow_id = f"memo-{uuid.uuid4().hex[:8]}"
    # No instance is kept between tasks: every task replays the run from its start.
    async with Worker(
        client, task_queue=task_queue, workflows=MEMO_WORKFLOWS, max_cached_workflows=0
    ):
        handle = await client.start_workflow(
            MemoKeeper.run, None, id=workflow_id, task_queue=task_queue, memo=START_MEMO
        )
        first_run = handle.result_run_id
        assert await (await handle.describe()).memo() == STORED
        assert await handle.execute_update(MemoKeeper.stage, "packed") == UPSERTED
        described = await handle.describe()
        assert await described.memo() == UPSERTED
        assert (await described.memo_value("order", type_hint=Order)).total == 42
        assert await described.memo_value("note", "none") == "none"
        with pytest.raises(KeyError):
            await described.memo_value("note")
        await handle.signal(MemoKeeper.finish)
        result = await handle.result()
    assert result == {
        "first": {
            "customer": "acme",
            "missing": "fallback",
            "end": UPSERTED,
            "note_removed": True,
        },
        # As on Temporal, the next run gets the memo the run started with, not its upserts.
        "continued": STORED,
    }
    latest = await client.get_workflow_handle(workflow_id).describe()
    assert latest.run_id != first_run
    assert await latest.memo() == STORED
    events = await client.get_workflow_handle(workflow_id, run_id=first_run).events()
    started = next(e for e in events if e.type is EventType.WORKFLOW_STARTED)
    assert started.attributes["memo"] == STORED
    modified = [e for e in events if e.type is EventType.WORKFLOW_PROPERTIES_MODIFIED]
    assert [e.attributes["upserted_memo"] for e in modified] == [{"stage": "packed", "note": None}]


async def test_a_child_gets_the_memo_its_parent_gives(executor: ExecutorHarness) -> None:
    task_queue = f"memo-{uuid.uuid4().hex[:8]}"
    child_id = f"memo-child-{uuid.uuid4().hex[:8]}"
    parent_id = f"memo-parent-{uuid.uuid4().hex[:8]}"
    async with Worker(executor.client, task_queue=task_queue, workflows=MEMO_WORKFLOWS):
        seen = await executor.client.execute_workflow(
            MemoParent.run, child_id, id=parent_id, task_queue=task_queue
        )
    assert seen == {"parent": parent_id}
    child = await executor.client.get_workflow_handle(child_id).describe()
    assert await child.memo() == {"parent": parent_id}
    parent = await executor.client.get_workflow_handle(parent_id).describe()
    assert await parent.memo() == {}


@pytest.mark.parametrize(
    ("memo", "named"),
    [
        ({"turnout_correlation_id": "x"}, "turnout_"),
        ({1: "x"}, "memo keys are strings"),
        ({"": "x"}, "a key of the memo"),
        ({"blob": object()}, "cannot be converted to JSON"),
        ({"nan": float("nan")}, "JSON cannot carry"),
        (["order"], "pass a dict"),
    ],
)
async def test_a_memo_that_cannot_be_kept_is_refused_before_the_start(
    executor: ExecutorHarness, memo: object, named: str
) -> None:
    workflow_id = f"memo-bad-{uuid.uuid4().hex[:8]}"
    with pytest.raises(InvalidInputError, match=named):
        await executor.client.start_workflow(
            MemoKeeper.run,
            None,
            id=workflow_id,
            task_queue="memo-refused",
            memo=memo,
        )
    with pytest.raises(WorkflowNotFoundError):
        await executor.client.get_workflow_handle(workflow_id).describe()
