"""Parents that close while a child is open, and a child id taken before (the scenarios in
``test_child_policies.py``)."""

from __future__ import annotations

import asyncio

from turnout import ChildWorkflowError, WorkflowAlreadyStartedError, workflow
from turnout.common import WorkflowIDReusePolicy as IdReusePolicy
from turnout.workflow import ParentClosePolicy


@workflow.defn
class LongChild:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.wait_condition(lambda: False)
        except asyncio.CancelledError:
            return "cleaned up"  # a cancel request is handled, then the child completes
        return "never"


@workflow.defn
class ShortChild:
    @workflow.run
    async def run(self) -> str:
        return "done"


@workflow.defn
class LeavingParent:
    @workflow.run
    async def run(self, child_id: str, policy: str) -> str:
        await workflow.start_child_workflow(
            LongChild.run, id=child_id, parent_close_policy=ParentClosePolicy(policy)
        )
        return "parent done"


@workflow.defn
class ReusingParent:
    @workflow.run
    async def run(self, child_id: str) -> list[str]:
        first = await workflow.execute_child_workflow(ShortChild.run, id=child_id)
        try:
            await workflow.execute_child_workflow(
                ShortChild.run, id=child_id, id_reuse_policy=IdReusePolicy.REJECT_DUPLICATE
            )
            second = "started again"
        except WorkflowAlreadyStartedError:
            second = "refused"
        third = await workflow.execute_child_workflow(ShortChild.run, id=child_id)
        return [first, second, third]


@workflow.defn
class StoppingChild:
    """Cancels its child through the handle and reports what the await ended with."""

    @workflow.run
    async def run(self, child_id: str) -> list[str]:
        handle = await workflow.start_child_workflow(LongChild.run, id=child_id)
        handle.cancel()
        try:
            return ["returned", str(await handle)]
        except ChildWorkflowError as err:
            return ["ChildWorkflowError", type(err.cause).__name__]


@workflow.defn
class WaitingParent:
    """Awaits a child it never cancels itself; the test cancels the parent."""

    @workflow.run
    async def run(self, child_id: str) -> str:
        return str(await workflow.execute_child_workflow(CancelledChild.run, id=child_id))


@workflow.defn
class CancelledChild:
    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: False)  # its cancellation ends it canceled
        return "never"


CHILD_WORKFLOWS: list[type] = [
    LongChild,
    ShortChild,
    LeavingParent,
    ReusingParent,
    StoppingChild,
    WaitingParent,
    CancelledChild,
]
