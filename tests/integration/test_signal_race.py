"""A signal through a start handle reaches the workflow id's newer run when the run it
found closes for that one while the signal waits for its lock (PostgreSQL), as Temporal's
server routes it."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

import turnout
from tests.store.conftest import types

pytestmark = pytest.mark.asyncio

_COLUMNS = (
    "task_id, tenant_id, workflow_id, workflow_type, task_queue, correlation_id, attempt, "
    "input, updated_at, options, memo, search_attributes"
)


async def test_a_signal_waiting_on_a_run_that_closes_reaches_the_newer_run(
    postgres_url: str,
) -> None:
    client = await turnout.connect(executor="internal", database_url=str(postgres_url))
    try:
        handle = await client.start_workflow("Flow", id="entity", task_queue="nobody")
        old = handle.result_run_id
        new = str(uuid.uuid4())
        async with await psycopg.AsyncConnection.connect(str(postgres_url)) as locker:
            # The open run is locked, as a continue-as-new's commit locks it.
            await locker.execute("SELECT 1 FROM turnout_runs WHERE run_id = %s FOR UPDATE", [old])
            signal = asyncio.create_task(handle.signal("poke", "x"))
            async with asyncio.timeout(20):  # the signal's update waits for that lock
                while not (
                    await (
                        await locker.execute(
                            "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid <> "
                            "pg_backend_pid()"
                        )
                    ).fetchone()
                )[0]:
                    assert not signal.done()
                    await asyncio.sleep(0.01)
            # The run closes, continued by a newer one of the same id, in that transaction.
            await locker.execute(
                "UPDATE turnout_runs SET state = 'continued_as_new', closed_at = now() "
                "WHERE run_id = %s",
                [old],
            )
            await locker.execute(
                "INSERT INTO turnout_runs "
                f"(run_id, state, continued_from_run_id, requested_at, {_COLUMNS}) "
                f"SELECT %s, 'queued', run_id, now(), {_COLUMNS} FROM turnout_runs "
                "WHERE run_id = %s",
                [new, old],
            )
            await locker.commit()
        async with asyncio.timeout(20):
            await signal
        assert (await types(client.store, new))[-1] == "signal_received"
        assert "signal_received" not in await types(client.store, old)
    finally:
        await client.close()
