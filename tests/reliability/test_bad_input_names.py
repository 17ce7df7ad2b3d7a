"""Bad input, names and text: unknown workflow types and activities, malformed ids and
task queues, and SQL-meta characters that must round-trip exactly.

Every test compares the tables (or the rows of runs that were there before) before
and after the bad input, on SQLite and PostgreSQL (bad_input_kit.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import turnout
from tests.reliability.bad_input_kit import (
    ACTIVITIES,
    NASTY,
    NASTY_TEXT,
    WAIT,
    WORKFLOWS,
    CallsByName,
    Hello,
    Nasty,
    Q,
    Waiter,
    events_until,
    new_id,
    snapshot,
    wait_state,
)
from tests.reliability.bad_input_kit import bad_input_client as bad_input_client  # the fixture
from tests.reliability.bad_input_kit import bad_input_url as bad_input_url  # the fixture
from tests.reliability.bad_input_kit import baseline as baseline  # the fixture
from turnout import (
    EventType,
    RetryState,
    RunState,
)
from turnout.executors.internal.schema import queue_items

# --------------------------------------------------------------------------- unknown names


async def test_an_unknown_workflow_type_fails_its_task_visibly_and_the_run_stays_open(
    bad_input_client: Any, baseline: list[str]
) -> None:
    client = bad_input_client
    before = await snapshot(client, baseline)
    handle = await client.start_workflow("NoSuchWorkflow", "x", id=new_id("unknown"), task_queue=Q)

    timeline = await events_until(handle, EventType.WORKFLOW_TASK_FAILED)
    failed = next(e for e in timeline if e.type is EventType.WORKFLOW_TASK_FAILED)
    failure = failed.attributes["failure"]
    assert failure["type"] == "NotRegistered"
    message = failure["message"]
    # The problem (the type, not registered, where) and the fix (what is registered).
    assert "'NoSuchWorkflow'" in message
    assert "not registered" in message
    assert Q in message
    assert all(cls.__name__ in message for cls in WORKFLOWS), message
    run = await handle.describe()
    assert not run.state.is_terminal, run.state  # open: a deploy that knows it may run it

    await handle.terminate("nobody runs NoSuchWorkflow")
    assert (await handle.describe()).state is RunState.TERMINATED
    timeline = await handle.events()
    terminated = [e for e in timeline if e.type is EventType.WORKFLOW_TERMINATED]
    assert [e.attributes["reason"] for e in terminated] == ["nobody runs NoSuchWorkflow"]
    assert await snapshot(client, baseline) == before
    async with client.store.reader.connect() as conn:
        runnable = (
            await conn.execute(
                sa.select(queue_items.c.id).where(
                    queue_items.c.run_id == run.run_id,
                    queue_items.c.state.in_(["queued", "claimed", "running"]),
                )
            )
        ).all()
    assert runnable == []  # the retry of its workflow task ended with the run


async def test_an_unknown_activity_fails_under_its_retry_policy_naming_what_is_registered(
    bad_input_client: Any, baseline: list[str]
) -> None:
    client = bad_input_client
    before = await snapshot(client, baseline)
    handle = await client.start_workflow(
        CallsByName.run, args=["no_such_activity", ["x"], 2], id=new_id("missing"), task_queue=Q
    )
    result = await handle.result(timeout=timedelta(seconds=WAIT))

    assert result["error"] == "ActivityError"
    assert result["retry_state"] == RetryState.MAXIMUM_ATTEMPTS_REACHED.value
    assert result["cause_type"] == "NotRegistered"
    assert "'no_such_activity'" in result["cause"]
    assert "not registered" in result["cause"]
    assert all(a.__name__ in result["cause"] for a in ACTIVITIES), result["cause"]
    timeline = await handle.events()
    started = [e.attributes["attempt"] for e in timeline if e.type is EventType.ACTIVITY_STARTED]
    assert started == [1, 2]
    assert sum(e.type is EventType.DEAD_LETTERED for e in timeline) == 1
    assert await snapshot(client, baseline) == before


# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    ("workflow_id", "words"),
    [
        pytest.param("", "non-empty", id="empty"),
        pytest.param("   ", "non-empty", id="blank"),
        pytest.param("w" * 256, "at most 255", id="256-chars"),
        pytest.param("line\nbreak", "control characters", id="newline"),
        pytest.param("nul\x00byte", "control characters", id="nul"),
        pytest.param("bell\x07", "control characters", id="bell"),
        pytest.param("del\x7f", "control characters", id="del"),
    ],
)
async def test_a_malformed_workflow_id_is_refused_and_nothing_is_stored(
    bad_input_client: Any, workflow_id: str, words: str
) -> None:
    client = bad_input_client
    before = await snapshot(client)
    with pytest.raises(ValueError, match=words):
        await client.start_workflow(Hello.run, "x", id=workflow_id, task_queue=Q)
    assert await snapshot(client) == before


async def test_malformed_task_queues_are_refused_and_the_longest_id_is_accepted(
    bad_input_client: Any,
) -> None:
    client = bad_input_client
    before = await snapshot(client)
    for queue in ("", "q\n", "q" * 256):
        with pytest.raises(ValueError, match="task queue"):
            await client.start_workflow(Hello.run, "x", id=new_id("queue"), task_queue=queue)
    assert await snapshot(client) == before
    longest = "w" * 255
    handle = await client.start_workflow(Hello.run, "x", id=longest, task_queue=Q)
    assert (await handle.describe()).workflow_id == longest


async def test_overlong_correlation_ids_and_idempotency_keys_are_refused(
    bad_input_client: Any,
) -> None:
    client = bad_input_client
    before = await snapshot(client)
    for options, words in (
        ({"correlation_id": "c" * 65}, "correlation id has at most 64"),
        ({"correlation_id": "c\n"}, "correlation id must be non-empty printable"),
        ({"idempotency_key": "k" * 256}, "idempotency key has at most 255"),
    ):
        with pytest.raises(ValueError, match=words):
            await client.start_workflow(Hello.run, "x", id=new_id("keys"), task_queue=Q, **options)
    assert await snapshot(client) == before
    handle = await client.start_workflow(
        Hello.run, "x", id=new_id("keys"), task_queue=Q, correlation_id="c" * 64
    )
    assert (await handle.describe()).correlation_id == "c" * 64


# --------------------------------------------------------------------------- SQL-meta text


async def test_sql_meta_characters_round_trip_through_every_string_field(
    bad_input_client: Any, baseline: list[str]
) -> None:
    client = bad_input_client
    before = await snapshot(client, baseline)
    queue = f"{Q} {NASTY}"
    wid = f"wf {NASTY}"
    async with turnout.Worker(client, task_queue=queue, workflows=[Nasty], activities=ACTIVITIES):
        handle = await client.start_workflow(Nasty.run, NASTY_TEXT, id=wid, task_queue=queue)
        await handle.signal(NASTY, NASTY_TEXT)
        await wait_state(handle, RunState.WAITING_APPROVAL)
        [pending] = await handle.approvals()
        assert pending.name == NASTY
        assert pending.details == {NASTY: NASTY_TEXT, "list": [NASTY_TEXT, NASTY_TEXT]}
        decision = await handle.approve(NASTY, by=f"by {NASTY}", reason=NASTY_TEXT)
        assert (decision.decided_by, decision.reason) == (f"by {NASTY}", NASTY_TEXT)
        result = await handle.result(timeout=timedelta(seconds=WAIT))

    assert result == {
        "input": NASTY_TEXT,
        "signal": [NASTY_TEXT],
        "decided_by": f"by {NASTY}",
        "reason": NASTY_TEXT,
        "artifact": [NASTY, f"s3://bucket/{NASTY}"],
    }
    run = await client.get_workflow_handle(wid).describe()
    assert (run.workflow_id, run.task_queue, run.state) == (wid, queue, RunState.COMPLETED)
    listed = await client.list_workflows(task_queue=queue)
    assert [r.workflow_id for r in listed] == [wid]
    timeline = await handle.events()
    assert {e.workflow_id for e in timeline} == {wid}
    signal = next(e for e in timeline if e.type is EventType.SIGNAL_RECEIVED)
    assert (signal.attributes["name"], signal.attributes["args"]) == (NASTY, [NASTY_TEXT])
    [artifact] = await handle.artifacts()
    assert (artifact.name, artifact.uri) == (NASTY, f"s3://bucket/{NASTY}")
    decisions = [d for d in await handle.policy_decisions() if d.name == NASTY]
    assert [(d.decided_by, d.reason) for d in decisions] == [(f"by {NASTY}", NASTY_TEXT)]

    # A reason given when terminating round-trips too.
    other = await client.start_workflow(Waiter.run, id=f"{wid} 2", task_queue=queue)
    await other.terminate(NASTY_TEXT)
    terminated = next(e for e in await other.events() if e.type is EventType.WORKFLOW_TERMINATED)
    assert terminated.attributes["reason"] == NASTY_TEXT
    assert (await other.describe()).failure.message == NASTY_TEXT
    assert await snapshot(client, baseline) == before  # and the tables are all still there
