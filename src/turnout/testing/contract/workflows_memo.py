"""Workflows that read and change their memo (the scenarios in ``test_memo.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from turnout import workflow


@dataclass
class Order:
    customer: str
    total: int


@workflow.defn
class MemoKeeper:
    """Reads its memo, changes it in an update, and continues as new once told to finish;
    the continued run returns what both runs saw."""

    def __init__(self) -> None:
        self._done = False

    @workflow.update
    def stage(self, stage: str) -> dict[str, Any]:
        workflow.upsert_memo({"stage": stage, "note": None})
        return dict(workflow.memo())

    @workflow.signal
    def finish(self) -> None:
        self._done = True

    @workflow.run
    async def run(self, first: dict[str, Any] | None) -> dict[str, Any]:
        if first is not None:
            return {"first": first, "continued": dict(workflow.memo())}
        seen: dict[str, Any] = {
            "customer": workflow.memo_value("order", type_hint=Order).customer,
            "missing": workflow.memo_value("missing", "fallback"),
        }
        await workflow.wait_condition(lambda: self._done)
        seen["end"] = dict(workflow.memo())
        try:
            workflow.memo_value("note")
        except KeyError:
            seen["note_removed"] = True
        workflow.continue_as_new(seen)


@workflow.defn
class MemoChild:
    @workflow.run
    async def run(self) -> dict[str, Any]:
        return dict(workflow.memo())


@workflow.defn
class MemoParent:
    """Starts a child with a memo of its own; returns what the child saw."""

    @workflow.run
    async def run(self, child_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await workflow.execute_child_workflow(
            MemoChild.run, id=child_id, memo={"parent": workflow.info().workflow_id}
        )
        return result


MEMO_WORKFLOWS: list[type] = [MemoKeeper, MemoChild, MemoParent]
