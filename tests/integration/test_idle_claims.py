"""A worker claims only when work may be waiting.

One workflow at a time, a one-activity workflow needs one claim: its first workflow
task (on PostgreSQL, the start's NOTIFY may wake the worker a second time). The commit
leases the activity it schedules to the worker, and the activity's result claims the
workflow task it wakes. A slot freed after a claim that drained the queue sends no claim
to the database; the worker only looks at when the next item is due.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import turnout
from tests.workflows_for_tests import DrainWorkflow, record

WORKFLOWS = 8


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


async def test_one_workflow_at_a_time_takes_one_claim(
    database_url: str,
) -> None:
    client = await turnout.connect(executor="internal", database_url=database_url)
    store = client.store
    counted: Counter[str] = Counter()
    claim = store.claim

    async def counting_claim(p: Any) -> Any:
        counted["claims"] += 1
        return await claim(p)

    try:
        async with turnout.Worker(
            client, task_queue="one-claim", workflows=[DrainWorkflow], activities=[record]
        ):
            first = await client.start_workflow(
                DrainWorkflow.run, "warm", id="warm", task_queue="one-claim"
            )
            assert await first.result() == "warm"
            store.claim = counting_claim
            for i in range(1, WORKFLOWS + 1):
                handle = await client.start_workflow(
                    DrainWorkflow.run, f"one-{i}", id=f"one-{i}", task_queue="one-claim"
                )
                assert await handle.result() == f"one-{i}"
    finally:
        await client.close()
    # SQLite: exactly one claim per workflow. PostgreSQL: a start also comes back as a
    # NOTIFY, which may send a second claim. A claim after each ended task made four.
    assert counted["claims"] < 3 * WORKFLOWS, counted
    if "sqlite" in database_url:
        assert counted["claims"] == WORKFLOWS, counted
