"""``workflow.logger`` and ``activity.logger`` records carry temporalio's fields
(``temporal_workflow``, ``temporal_activity``) on every executor, so handlers and
formatters written for temporalio read them unchanged."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest

from turnout.testing.contract.workflows_logging import (
    LOGGING_ACTIVITIES,
    LOGGING_WORKFLOWS,
    Chatty,
)
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Iterator[_Kept]:
    handler = _Kept()
    loggers = [logging.getLogger("turnout.workflow"), logging.getLogger("turnout.activity")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


async def test_log_records_carry_temporalios_fields(executor: ExecutorHarness, kept: _Kept) -> None:
    word = uuid.uuid4().hex[:8]
    task_queue = f"logging-{word}"
    workflow_id = f"chatty-{word}"
    async with Worker(
        executor.client,
        task_queue=task_queue,
        workflows=LOGGING_WORKFLOWS,
        activities=LOGGING_ACTIVITIES,
    ):
        assert (
            await executor.client.execute_workflow(
                Chatty.run, word, id=workflow_id, task_queue=task_queue
            )
            == word
        )
    mine = [r for r in kept.records if word in r.getMessage()]
    from_workflow = [r for r in mine if hasattr(r, "temporal_workflow")]
    from_activity = [r for r in mine if hasattr(r, "temporal_activity")]
    assert from_workflow
    assert from_activity
    details = from_workflow[0].temporal_workflow
    assert (details["workflow_id"], details["workflow_type"]) == (workflow_id, "Chatty")
    assert details["task_queue"] == task_queue
    assert details["attempt"] == 1
    activity_details = from_activity[0].temporal_activity
    assert activity_details["activity_type"] == "log_from_activity"
    assert activity_details["workflow_id"] == workflow_id
