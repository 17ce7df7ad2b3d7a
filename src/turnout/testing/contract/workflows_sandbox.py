"""A workflow that asks ``workflow.unsafe`` where it runs (the scenario in
``test_unsafe.py``)."""

from __future__ import annotations

from turnout import workflow


@workflow.defn
class Introspective:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> dict[str, bool]:
        with workflow.unsafe.imports_passed_through():
            passed_through = workflow.unsafe.is_imports_passed_through()
        with workflow.unsafe.sandbox_unrestricted():
            unrestricted = workflow.unsafe.is_sandbox_unrestricted()
        await workflow.wait_condition(lambda: self.done)
        return {
            "in_sandbox": workflow.unsafe.in_sandbox(),
            "passed_through": passed_through,
            "unrestricted": unrestricted,
            "outside": workflow.unsafe.is_sandbox_unrestricted(),
            "read_only_in_run": workflow.unsafe.is_read_only(),
        }

    @workflow.query
    def read_only(self) -> bool:
        return workflow.unsafe.is_read_only()

    @workflow.signal
    def finish(self) -> None:
        self.done = True


SANDBOX_WORKFLOWS: list[type] = [Introspective]
