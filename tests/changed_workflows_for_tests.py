"""HelloWorkflow after a careless change (a new first activity), for replay tests."""

from __future__ import annotations

from tests.workflows_for_tests import ACTIVITY, greet, shout
from turnout import workflow


@workflow.defn(name="HelloWorkflow")
class HelloWorkflowChanged:
    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.execute_activity(shout, "new first step", **ACTIVITY)
        greeting = await workflow.execute_activity(greet, name, **ACTIVITY)
        return await workflow.execute_activity(shout, greeting, **ACTIVITY)
