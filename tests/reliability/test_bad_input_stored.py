"""Bad input around what is stored: a history edited by hand, a schema from a newer
turnout, and a database URL that points nowhere.

Each refusal is a clear error, and nothing already stored is lost or changed.
"""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import turnout
from tests.reliability.bad_input_kit import WAIT, WORKFLOWS, Hello, Q, echo, new_id
from tests.reliability.bad_input_kit import bad_input_client as bad_input_client  # the fixture
from tests.reliability.bad_input_kit import bad_input_url as bad_input_url  # the fixture
from tests.reliability.bad_input_kit import baseline as baseline  # the fixture
from turnout import (
    ConfigurationError,
    Event,
    EventType,
)
from turnout.executors.internal.migrate import VERSION_TABLE, make_engine
from turnout.executors.internal.schema import runs
from turnout.replay import replay_events

# --------------------------------------------------------------------------- history


async def test_a_history_edited_by_hand_does_not_replay_and_the_summary_names_the_event(
    bad_input_client: Any, baseline: list[str]
) -> None:
    client = bad_input_client
    async with client.store.reader.connect() as conn:
        workflow_id = (
            await conn.execute(sa.select(runs.c.workflow_id).where(runs.c.run_id == baseline[0]))
        ).scalar_one()
    handle = client.get_workflow_handle(workflow_id, run_id=baseline[0])
    stored = await handle.events()
    exported = json.dumps([e.model_dump(mode="json") for e in stored])

    history = [Event.model_validate(e) for e in json.loads(exported)]
    assert replay_events(history, WORKFLOWS).deterministic
    scheduled = next(e for e in history if e.type is EventType.ACTIVITY_SCHEDULED)
    edited = [
        e.model_copy(update={"attributes": {**e.attributes, "activity_type": "tampered"}})
        if e.seq == scheduled.seq
        else e
        for e in history
    ]

    replayed = replay_events(edited, WORKFLOWS)
    assert not replayed.deterministic
    assert f"history event {scheduled.seq}" in replayed.summary, replayed.summary
    assert "tampered" in replayed.summary, replayed.summary
    assert await handle.events() == stored  # replay reads; the stored history is unchanged


# --------------------------------------------------------------------------- schema


def _table_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            return {
                name: sorted(
                    map(tuple, conn.execute(sa.text(f"SELECT * FROM {name}")).all()), key=repr
                )
                for name in sorted(names)
            }
    finally:
        engine.dispose()


async def test_connect_refuses_a_schema_from_a_newer_turnout_and_keeps_its_rows(
    bad_input_url: str,
) -> None:
    client = await turnout.connect(executor="internal", database_url=bad_input_url)
    try:
        async with turnout.Worker(client, task_queue=Q, workflows=[Hello], activities=[echo]):
            handle = await client.start_workflow(Hello.run, "kept", id=new_id("kept"), task_queue=Q)
            assert await handle.result(timeout=timedelta(seconds=WAIT)) == "hello kept"
    finally:
        await client.close()
    engine = make_engine(bad_input_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999_future'"))
    finally:
        engine.dispose()
    before = _table_rows(bad_input_url)

    with pytest.raises(ConfigurationError) as refused:
        await asyncio.wait_for(
            turnout.connect(executor="internal", database_url=bad_input_url), WAIT
        )
    assert "'9999_future'" in str(refused.value)
    assert "upgrade turnout" in str(refused.value)
    assert _table_rows(bad_input_url) == before


# --------------------------------------------------------------------------- nowhere


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_postgresql_url_that_points_nowhere_fails_fast_and_says_where() -> None:
    port = _closed_port()
    with pytest.raises(Exception) as failed:
        await asyncio.wait_for(
            turnout.connect(executor="internal", database_url=f"postgresql://127.0.0.1:{port}/x"),
            WAIT,
        )
    assert not isinstance(failed.value, asyncio.TimeoutError)
    message = str(failed.value)
    assert "127.0.0.1" in message, message
    assert str(port) in message, message
    assert "running" in message, message  # the fix: is the server running there?


async def test_a_sqlite_url_in_a_missing_directory_fails_fast_and_names_the_file(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nonexistent-dir" / "x.db"
    with pytest.raises(Exception) as failed:
        await asyncio.wait_for(
            turnout.connect(executor="internal", database_url=f"sqlite:///{missing}"), WAIT
        )
    assert not isinstance(failed.value, asyncio.TimeoutError)
    message = str(failed.value)
    assert str(missing.parent) in message, message  # the problem: this directory is missing
    assert "TURNOUT_DATABASE_URL" in message, message  # the fix: where the URL comes from
    assert not missing.parent.exists()  # nothing created on the way
