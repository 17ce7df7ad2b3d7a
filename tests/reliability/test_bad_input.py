"""Bad input: each refusal is a clear error, and nothing already stored is lost or changed.

Every test compares the tables (or the rows of runs that were there before) before
and after the bad input, on SQLite and PostgreSQL. What the bad input is:
workflow types and activities no worker knows, arguments that do not fit the type
hints or the signature, results that cannot be stored as JSON, payloads over the
limit (``TURNOUT_MAX_PAYLOAD_BYTES``), malformed workflow ids and task queues,
text full of SQL-meta characters (which must round-trip exactly), a history edited
by hand, a schema from a newer turnout, and a database URL that points nowhere.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel

import turnout
from turnout import (
    ActivityError,
    ApplicationError,
    ConfigurationError,
    Event,
    EventType,
    RetryPolicy,
    RetryState,
    RunState,
    WorkflowFailureError,
    activity,
    workflow,
)
from turnout.contracts.errors import PayloadTooLargeError
from turnout.executors.internal.migrate import VERSION_TABLE, make_engine
from turnout.executors.internal.schema import metadata, queue_items, runs, tasks
from turnout.replay import replay_events

Q = "bad-input"
WAIT = 60.0
"""Seconds any wait of this module may take before the test fails (never a timing check)."""
FAST_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=3)
SMALL_LIMIT = 4096
"""The payload limit the payload tests set through TURNOUT_MAX_PAYLOAD_BYTES."""

# Text that breaks naive SQL and naive escaping, without NUL (no database stores it in
# text) and, where names must be printable, without control characters.
NASTY = "o'Brien\"; DROP TABLE turnout_runs; -- \\ %s %% {0} $1 ? :name `x` ü 日本 🚂 \u200b"
NASTY_TEXT = NASTY + " \t\n\r tab, newline"
"""For free text (signal arguments, details, reasons), control characters included."""


# --------------------------------------------------------------------------- definitions


class Order(BaseModel):
    order_id: str
    amount: int


def _unjson(kind: str) -> Any:
    """A value JSON cannot carry: an arbitrary object, NaN, infinity."""
    return {"object": object(), "nan": math.nan, "inf": math.inf}[kind]


@activity.defn
async def echo(text: str) -> str:
    return text


@activity.defn
async def unstorable(kind: str) -> Any:
    """A result that is not JSON: an arbitrary object, or a float JSON has no word for."""
    return _unjson(kind)


@activity.defn
async def big_result(size: int) -> str:
    return "r" * size


@activity.defn
async def record_nasty(name: str, uri: str) -> list[str]:
    artifact = await activity.record_artifact(name, uri, media_type="text/plain")
    return [artifact.name, artifact.uri]


@workflow.defn
class Hello:
    @workflow.run
    async def run(self, name: str) -> str:
        result: str = await workflow.execute_activity(
            echo, f"hello {name}", start_to_close_timeout=timedelta(seconds=30)
        )
        return result


@workflow.defn
class Typed:
    @workflow.run
    async def run(self, n: int, order: Order) -> str:
        return f"{n} {order.order_id}"


@workflow.defn
class Measure:
    @workflow.run
    async def run(self, value: float) -> float:
        return value


@workflow.defn
class CallsByName:
    """Runs the activity named in its input; reports an ActivityError as its result."""

    @workflow.run
    async def run(self, name: str, args: list[Any], attempts: int) -> Any:
        try:
            return await workflow.execute_activity(
                name,
                args=args,
                start_to_close_timeout=timedelta(seconds=5),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=10), maximum_attempts=attempts
                ),
            )
        except ActivityError as exc:
            cause = exc.cause
            return {
                "error": "ActivityError",
                "retry_state": exc.retry_state.value if exc.retry_state else None,
                "cause_type": getattr(cause, "type", None),
                "cause": str(cause),
            }


@workflow.defn
class Waiter:
    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: bool(self.got))
        return self.got

    @workflow.signal
    def poke(self, value: str) -> None:
        self.got.append(value)


@workflow.defn
class NanResult:
    @workflow.run
    async def run(self) -> float:
        return math.nan


@workflow.defn
class BigResult:
    @workflow.run
    async def run(self, size: int) -> str:
        return "w" * size


@workflow.defn
class Nasty:
    """Carries NASTY text through every string field a run has."""

    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.run
    async def run(self, text: str) -> dict[str, Any]:
        await workflow.wait_condition(lambda: bool(self.got))
        decision = await workflow.request_approval(
            NASTY, details={NASTY: text, "list": [text, NASTY_TEXT]}
        )
        artifact = await workflow.execute_activity(
            record_nasty,
            args=[NASTY, f"s3://bucket/{NASTY}"],
            start_to_close_timeout=timedelta(seconds=30),
        )
        return {
            "input": text,
            "signal": self.got,
            "decided_by": decision.decided_by,
            "reason": decision.reason,
            "artifact": artifact,
        }

    @workflow.signal(name=NASTY)
    def nasty_signal(self, value: str) -> None:
        self.got.append(value)


WORKFLOWS = [Hello, Typed, Measure, CallsByName, Waiter, NanResult, BigResult, Nasty]
ACTIVITIES = [echo, unstorable, big_result, record_nasty]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bad_input_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def bad_input_client(bad_input_url: str) -> AsyncIterator[Any]:
    client = await turnout.connect(executor="internal", database_url=bad_input_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def baseline(bad_input_client: Any) -> AsyncIterator[list[str]]:
    """A worker on ``Q``, and one run completed before the bad input: its run ids."""
    async with turnout.Worker(
        bad_input_client, task_queue=Q, workflows=WORKFLOWS, activities=ACTIVITIES
    ):
        handle = await bad_input_client.start_workflow(
            Hello.run, "before", id=_id("before"), task_queue=Q
        )
        assert await handle.result(timeout=timedelta(seconds=WAIT)) == "hello before"
        yield [handle.run_id]


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def snapshot(client: Any, run_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """Every row of every turnout table (or only those of ``run_ids``' runs), in order."""
    out: dict[str, Any] = {}
    async with client.store.reader.connect() as conn:
        workflow_ids: list[str] = []
        if run_ids is not None:
            workflow_ids = list(
                (
                    await conn.execute(
                        sa.select(runs.c.workflow_id).where(runs.c.run_id.in_(run_ids))
                    )
                ).scalars()
            )
        for table in metadata.sorted_tables:
            stmt = sa.select(table).order_by(*table.primary_key.columns)
            if run_ids is not None:
                if "run_id" in table.c:
                    stmt = stmt.where(table.c.run_id.in_(run_ids))
                elif table is tasks:
                    stmt = stmt.where(table.c.workflow_id.in_(workflow_ids))
            out[table.name] = [tuple(row) for row in (await conn.execute(stmt)).all()]
    return out


async def _events_until(handle: Any, etype: EventType, count: int = 1) -> list[Event]:
    async with asyncio.timeout(WAIT):
        while True:
            timeline: list[Event] = await handle.events()
            if sum(e.type is etype for e in timeline) >= count:
                return timeline
            await asyncio.sleep(0.05)


async def _state(handle: Any, state: RunState) -> None:
    async with asyncio.timeout(WAIT):
        while (await handle.describe()).state is not state:
            await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- unknown names


async def test_an_unknown_workflow_type_fails_its_task_visibly_and_the_run_stays_open(
    bad_input_client: Any, baseline: list[str]
) -> None:
    client = bad_input_client
    before = await snapshot(client, baseline)
    handle = await client.start_workflow("NoSuchWorkflow", "x", id=_id("unknown"), task_queue=Q)

    timeline = await _events_until(handle, EventType.WORKFLOW_TASK_FAILED)
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
        CallsByName.run, args=["no_such_activity", ["x"], 2], id=_id("missing"), task_queue=Q
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


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(["abc", {"order_id": "o-1", "amount": 3}], ["Typed", "type hints", "int"]),
        pytest.param([1, {"order_id": "o-1"}], ["Typed", "type hints", "amount"]),
        pytest.param([1, "not an order"], ["Typed", "type hints", "Order"]),
        pytest.param([1], ["Typed", "cannot take these arguments", "order"]),
        pytest.param(
            [1, {"order_id": "o-1", "amount": 3}, "extra"],
            ["Typed", "cannot take these arguments", "too many"],
        ),
        pytest.param([], ["Typed", "cannot take these arguments", "n"]),
    ],
    ids=["wrong-type", "missing-field", "not-a-model", "too-few", "too-many", "none"],
)
async def test_arguments_that_do_not_fit_the_workflow_are_refused_at_start(
    bad_input_client: Any, args: list[Any], words: list[str]
) -> None:
    client = bad_input_client
    before = await snapshot(client)
    with pytest.raises(TypeError) as refused:
        await client.start_workflow(Typed.run, args=args, id=_id("typed"), task_queue=Q)
    assert all(word in str(refused.value) for word in words), str(refused.value)
    assert await snapshot(client) == before
    # The same start with fitting arguments is accepted.
    handle = await client.start_workflow(
        Typed.run, args=[1, {"order_id": "o-1", "amount": 3}], id=_id("typed"), task_queue=Q
    )
    assert (await handle.describe()).state is RunState.QUEUED


@pytest.mark.parametrize("value", ["object", "nan", "inf"])
async def test_a_start_input_that_is_not_json_is_refused_naming_the_workflow(
    bad_input_client: Any, value: str
) -> None:
    """Refused at start like any other input that cannot be right: a TypeError or
    ValueError that names the workflow, nothing stored. NaN and infinity are floats
    JSON has no word for (PostgreSQL's JSON refuses them)."""
    client = bad_input_client
    before = await snapshot(client)
    with pytest.raises((TypeError, ValueError)) as refused:
        await client.start_workflow(Measure.run, _unjson(value), id=_id(value), task_queue=Q)
    assert "workflow Measure" in str(refused.value), str(refused.value)
    assert "JSON" in str(refused.value), str(refused.value)
    assert await snapshot(client) == before


# --------------------------------------------------------------------------- results


@pytest.mark.parametrize("kind", ["object", "nan", "inf"])
async def test_an_activity_result_that_is_not_json_fails_the_activity_without_retries(
    bad_input_client: Any, baseline: list[str], kind: str
) -> None:
    """The activity ran once and returned: its outcome is decided then (a failure that no
    retry can fix), never left to a timeout that runs the activity again."""
    client = bad_input_client
    before = await snapshot(client, baseline)
    handle = await client.start_workflow(
        CallsByName.run, args=["unstorable", [kind], 5], id=_id(kind), task_queue=Q
    )
    result = await handle.result(timeout=timedelta(seconds=WAIT))

    assert isinstance(result, dict), result
    assert result["error"] == "ActivityError"
    assert result["retry_state"] == RetryState.NON_RETRYABLE_FAILURE.value
    assert "unstorable" in result["cause"]
    assert "cannot be stored" in result["cause"]
    timeline = await handle.events()
    attempts = [e.attributes["attempt"] for e in timeline if e.type is EventType.ACTIVITY_STARTED]
    assert attempts == [1], [(e.seq, e.type.value, e.attributes) for e in timeline]
    assert not any(e.type is EventType.RETRY_SCHEDULED for e in timeline)
    assert not any(e.type is EventType.LEASE_EXPIRED for e in timeline)
    assert await snapshot(client, baseline) == before


async def test_a_workflow_result_of_nan_fails_the_run_saying_why(
    bad_input_client: Any, baseline: list[str]
) -> None:
    client = bad_input_client
    before = await snapshot(client, baseline)
    handle = await client.start_workflow(NanResult.run, id=_id("nanwf"), task_queue=Q)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result(timeout=timedelta(seconds=WAIT))
    assert "the workflow's result" in str(failed.value.cause), str(failed.value.cause)
    assert "JSON" in str(failed.value.cause)
    run = await handle.describe()
    assert run.state is RunState.FAILED
    assert await snapshot(client, baseline) == before


async def test_signal_arguments_that_are_not_json_are_refused_and_the_run_is_unchanged(
    bad_input_client: Any, baseline: list[str]
) -> None:
    client = bad_input_client
    handle = await client.start_workflow(Waiter.run, id=_id("waiter"), task_queue=Q)
    await _state(handle, RunState.RUNNING)
    before = await snapshot(client)
    for kind in ("object", "nan"):
        with pytest.raises((TypeError, ValueError), match="signal poke"):
            await handle.signal(Waiter.poke, _unjson(kind))
    assert await snapshot(client) == before
    await handle.signal(Waiter.poke, "fine")
    assert await handle.result(timeout=timedelta(seconds=WAIT)) == ["fine"]


# --------------------------------------------------------------------------- payload limit


@pytest.fixture
async def small_limit_client(
    bad_input_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Any]:
    """A client whose payload limit comes from TURNOUT_MAX_PAYLOAD_BYTES, and a worker."""
    monkeypatch.setenv("TURNOUT_MAX_PAYLOAD_BYTES", str(SMALL_LIMIT))
    client = await turnout.connect(executor="internal", database_url=bad_input_url)
    try:
        async with turnout.Worker(client, task_queue=Q, workflows=WORKFLOWS, activities=ACTIVITIES):
            yield client
    finally:
        await client.close()


def _assert_names_the_limit(exc: BaseException | str, what: str) -> None:
    text = str(exc)
    assert what in text, text
    assert f"{SMALL_LIMIT:,}" in text, text
    assert "TURNOUT_MAX_PAYLOAD_BYTES" in text, text
    assert "reference" in text, text  # the fix: store it elsewhere, pass a reference


async def test_the_payload_limit_is_read_from_the_environment(
    bad_input_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TURNOUT_MAX_PAYLOAD_BYTES", raising=False)
    client = await turnout.connect(executor="internal", database_url=bad_input_url)
    try:
        assert client.max_payload_bytes == 2 * 1024 * 1024
    finally:
        await client.close()
    monkeypatch.setenv("TURNOUT_MAX_PAYLOAD_BYTES", str(SMALL_LIMIT))
    client = await turnout.connect(executor="internal", database_url=bad_input_url)
    try:
        assert client.max_payload_bytes == SMALL_LIMIT
    finally:
        await client.close()
    for wrong in ("10", "lots"):
        monkeypatch.setenv("TURNOUT_MAX_PAYLOAD_BYTES", wrong)
        with pytest.raises(ConfigurationError, match="TURNOUT_MAX_PAYLOAD_BYTES"):
            await turnout.connect(executor="internal", database_url=bad_input_url)


async def test_an_oversize_start_input_is_refused_and_nothing_is_stored(
    small_limit_client: Any,
) -> None:
    client = small_limit_client
    before = await snapshot(client)
    with pytest.raises(PayloadTooLargeError) as refused:
        await client.start_workflow(Hello.run, "x" * SMALL_LIMIT, id=_id("big"), task_queue=Q)
    _assert_names_the_limit(refused.value, "the input of workflow Hello")
    assert refused.value.limit == SMALL_LIMIT
    assert refused.value.size > SMALL_LIMIT
    assert await snapshot(client) == before


async def test_oversize_signal_arguments_are_refused_and_the_run_is_unchanged(
    small_limit_client: Any,
) -> None:
    client = small_limit_client
    handle = await client.start_workflow(Waiter.run, id=_id("waiter"), task_queue=Q)
    await _state(handle, RunState.RUNNING)
    before = await snapshot(client)
    with pytest.raises(PayloadTooLargeError) as refused:
        await handle.signal(Waiter.poke, "s" * SMALL_LIMIT)
    _assert_names_the_limit(refused.value, "the arguments of signal poke")
    assert await snapshot(client) == before
    await handle.signal(Waiter.poke, "small")
    assert await handle.result(timeout=timedelta(seconds=WAIT)) == ["small"]


async def test_an_oversize_activity_result_fails_the_activity(small_limit_client: Any) -> None:
    client = small_limit_client
    handle = await client.start_workflow(
        CallsByName.run, args=["big_result", [SMALL_LIMIT], 3], id=_id("bigres"), task_queue=Q
    )
    result = await handle.result(timeout=timedelta(seconds=WAIT))
    assert result["error"] == "ActivityError"
    assert result["retry_state"] == RetryState.NON_RETRYABLE_FAILURE.value
    assert result["cause_type"] == "PayloadTooLargeError"
    _assert_names_the_limit(result["cause"], "the result of activity big_result")
    timeline = await handle.events()
    assert sum(e.type is EventType.ACTIVITY_STARTED for e in timeline) == 1


async def test_an_oversize_workflow_result_fails_the_run(small_limit_client: Any) -> None:
    client = small_limit_client
    handle = await client.start_workflow(BigResult.run, SMALL_LIMIT, id=_id("bigwf"), task_queue=Q)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result(timeout=timedelta(seconds=WAIT))
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "PayloadTooLargeError"
    _assert_names_the_limit(cause, "the workflow's result")
    run = await handle.describe()
    assert run.state is RunState.FAILED
    assert run.result is None
    assert run.failure is not None
    assert run.failure.type == "PayloadTooLargeError"


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
            await client.start_workflow(Hello.run, "x", id=_id("queue"), task_queue=queue)
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
            await client.start_workflow(Hello.run, "x", id=_id("keys"), task_queue=Q, **options)
    assert await snapshot(client) == before
    handle = await client.start_workflow(
        Hello.run, "x", id=_id("keys"), task_queue=Q, correlation_id="c" * 64
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
        await _state(handle, RunState.WAITING_APPROVAL)
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
            handle = await client.start_workflow(Hello.run, "kept", id=_id("kept"), task_queue=Q)
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
