"""Workflows whose code raises exceptions that are not ``ApplicationError`` (the scenarios
in ``test_failure_types.py``)."""

from __future__ import annotations

from turnout import workflow


class InvalidOrder(Exception):
    """An exception a workflow names in ``failure_exception_types``."""


@workflow.defn(failure_exception_types=[InvalidOrder])
class StrictOrder:
    @workflow.run
    async def run(self, order: str) -> str:
        if order == "bad":
            raise InvalidOrder(f"order {order!r} is invalid")
        if order == "missing":
            raise KeyError("missing")  # named by the worker in one scenario
        return f"accepted {order}"


FAILURE_WORKFLOWS: list[type] = [StrictOrder]
