"""Dynamic workflows, handlers and activities behave as on Temporal on every executor: a
type no registered workflow or activity has runs on the dynamic one, under its own name;
a name no named handler takes reaches the dynamic handler, with its arguments raw, which
``payload_converter()`` converts; named handlers come first; dynamic handlers set at run
time receive the signals that waited for a handler; a worker takes one dynamic workflow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest

from turnout import EventType, workflow
from turnout.client import WorkflowUpdateFailedError
from turnout.common import RawValue
from turnout.testing.contract.workflows_dynamic import (
    AnyWorkflow,
    Inbox,
    LateHandlers,
    Order,
    OtherDynamicWorkflow,
    any_activity,
)
from turnout.testing.harness import ExecutorHarness
from turnout.testing.timeline import normalize
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_unregistered_types_run_on_the_dynamic_workflow_and_activity(
    executor: ExecutorHarness,
) -> None:
    task_queue = _id("dynamic")
    async with Worker(
        executor.client, task_queue=task_queue, workflows=[AnyWorkflow], activities=[any_activity]
    ):
        handle = await executor.client.start_workflow(
            "Checkout", args=[Order("apple", 2), 3], id=_id("checkout"), task_queue=task_queue
        )
        async with asyncio.timeout(30):
            assert await handle.result() == "Checkout: 6 x apple; greet apple"
        assert (await handle.describe()).workflow_type == "Checkout"
        assert normalize(await handle.events()) == [
            ("workflow_started", {}),
            ("activity_scheduled", {"activity_type": "greet"}),
            ("activity_completed", {"activity_type": "greet", "attempt": 1}),
            ("workflow_completed", {}),
        ]


async def test_dynamic_handlers_take_the_names_no_named_handler_takes(
    executor: ExecutorHarness,
) -> None:
    task_queue = _id("inbox")
    async with Worker(executor.client, task_queue=task_queue, workflows=[Inbox]):
        handle = await executor.client.start_workflow(
            Inbox.run, id=_id("inbox"), task_queue=task_queue
        )
        async with asyncio.timeout(30):
            await handle.signal(Inbox.note, "hi")  # the named handler, not the dynamic one
            await handle.signal("ping", args=["a", "b"])
            assert await handle.execute_update("tally", "x", id="tally-1") == "tally done"
            with pytest.raises(WorkflowUpdateFailedError) as rejected:
                await handle.execute_update("forbidden-step", id="forbidden-1")
            assert "forbidden-step is not allowed" in str(rejected.value.cause)
            assert await handle.query(Inbox.count) == 3
            assert await handle.query("anything", "x") == "query anything ['x'] after 3"
            await handle.signal("close")
            assert await handle.result() == [
                "note hi",
                "signal ping ['a', 'b']",
                "update tally ['x']",
                "signal close []",
            ]
        assert normalize(await handle.events()) == [
            ("workflow_started", {}),
            ("signal_received", {"name": "note"}),
            ("signal_received", {"name": "ping"}),
            ("workflow_update_accepted", {"name": "tally"}),
            ("workflow_update_completed", {}),
            ("signal_received", {"name": "close"}),
            ("workflow_completed", {}),
        ]


async def test_dynamic_handlers_set_at_run_time(executor: ExecutorHarness) -> None:
    task_queue = _id("late")
    handle = await executor.client.start_workflow(
        LateHandlers.run, id=_id("late"), task_queue=task_queue
    )
    # Sent before any worker runs the code, so before any handler exists: it waits.
    await handle.signal("early", "x")
    async with Worker(executor.client, task_queue=task_queue, workflows=[LateHandlers]):
        async with asyncio.timeout(30):
            while not any(
                e.type is EventType.WORKFLOW_TASK_COMPLETED for e in await handle.events()
            ):
                await asyncio.sleep(0.02)
            await handle.signal("late", "y")
            assert await handle.execute_update("mark", "z", id="mark-1") == 3
            with pytest.raises(WorkflowUpdateFailedError) as rejected:
                await handle.execute_update("empty", id="empty-1")
            assert "empty needs an argument" in str(rejected.value.cause)
            assert await handle.query("what") == "what: ['early=x', 'late=y', 'mark']"
            await handle.signal("close")
            assert await handle.result() == ["early=x", "late=y", "mark"]
        steps = normalize(await handle.events())
        assert [s for s in steps if s[0] != "signal_received"] == [
            ("workflow_started", {}),
            ("workflow_update_accepted", {"name": "mark"}),
            ("workflow_update_completed", {}),
            ("workflow_completed", {}),
        ]
        assert [s[1]["name"] for s in steps if s[0] == "signal_received"] == [
            "early",
            "late",
            "close",
        ]


async def test_dynamic_definitions_are_refused_where_temporalio_refuses_them(
    executor: ExecutorHarness,
) -> None:
    with pytest.raises(TypeError, match="dynamic"):
        Worker(
            executor.client,
            task_queue=_id("two"),
            workflows=[AnyWorkflow, OtherDynamicWorkflow],
        )
    # A dynamic workflow is started by a type name, never by its method.
    with pytest.raises(TypeError, match="not a workflow"):
        await executor.client.start_workflow(
            AnyWorkflow.run, args=[[]], id=_id("direct"), task_queue=executor.task_queue
        )
    with pytest.raises(TypeError, match=r"args: Sequence\[RawValue\]"):

        @workflow.defn(dynamic=True)
        class TakesAString:
            @workflow.run
            async def run(self, text: str) -> None: ...

    with pytest.raises(RuntimeError, match="name or dynamic"):

        @workflow.defn(name="Named", dynamic=True)
        class NamedAndDynamic:
            @workflow.run
            async def run(self, args: Sequence[RawValue]) -> None: ...
