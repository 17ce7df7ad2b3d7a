"""Validation at every boundary: a bad value is refused where it enters, with one clear line.

Durations (zero, negative, over the 100-year maximum), NaN, unknown RetryPolicy fields,
NUL in payloads and text, names longer than the schema's columns and JSON nested too
deep: each is refused before anything is stored, the same way on SQLite and PostgreSQL
(and on Temporal at the client), and nothing else on the queue is held up by it.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

import turnout
from tests.reliability.bad_input_kit import snapshot
from turnout import ActivityError, Event, EventType, RetryPolicy, RunState, activity, workflow
from turnout.contracts.limits import MAX_DURATION, MAX_JSON_DEPTH, InvalidInputError
from turnout.executors.internal import codec

Q = "boundaries"
WAIT = 60.0
"""Seconds any wait of this module may take before the test fails (never a timing check)."""
HUGE = timedelta(days=999_999_999)
THIRTY_SECONDS = timedelta(seconds=30)


# --------------------------------------------------------------------------- definitions


@activity.defn
async def echo(text: str) -> str:
    return text


@activity.defn
async def with_nul(text: str) -> str:
    return f"{text}\x00"


OPTIONS: dict[str, dict[str, Any]] = {
    "start_to_close_timeout=0": {"start_to_close_timeout": timedelta(0)},
    "start_to_close_timeout<0": {"start_to_close_timeout": timedelta(seconds=-5)},
    "schedule_to_close_timeout=0": {"schedule_to_close_timeout": timedelta(0)},
    "heartbeat_timeout<0": {
        "start_to_close_timeout": THIRTY_SECONDS,
        "heartbeat_timeout": timedelta(seconds=-1),
    },
    "start_to_close_timeout=huge": {"start_to_close_timeout": HUGE},
    "schedule_to_close_timeout=huge": {"schedule_to_close_timeout": HUGE},
    "schedule_to_start_timeout=huge": {
        "start_to_close_timeout": THIRTY_SECONDS,
        "schedule_to_start_timeout": HUGE,
    },
    "activity_id=NUL": {"start_to_close_timeout": THIRTY_SECONDS, "activity_id": "a\x00b"},
}


@workflow.defn
class WithOption:
    """Runs ``echo`` with the options of one case of ``OPTIONS``."""

    @workflow.run
    async def run(self, case: str) -> str:
        result: str = await workflow.execute_activity(echo, case, **OPTIONS[case])
        return result


@workflow.defn
class Sleeps:
    @workflow.run
    async def run(self, how: str) -> str:
        if how == "workflow.sleep":
            await workflow.sleep(HUGE)
        elif how == "asyncio.sleep":
            await asyncio.sleep(HUGE.total_seconds())
        else:
            await workflow.sleep(math.inf)
        return "woke"


@workflow.defn
class NulResult:
    """Reports how its activity's NUL-holding result failed."""

    @workflow.run
    async def run(self) -> dict[str, Any]:
        try:
            return await workflow.execute_activity(
                with_nul,
                "x",
                start_to_close_timeout=THIRTY_SECONDS,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=10), maximum_attempts=3
                ),
            )
        except ActivityError as exc:
            return {"retry_state": exc.retry_state.value if exc.retry_state else None,
                    "cause": str(exc.cause)}  # fmt: skip


@workflow.defn
class Waiter:
    def __init__(self) -> None:
        self.got: list[Any] = []

    @workflow.run
    async def run(self) -> list[Any]:
        await workflow.wait_condition(lambda: bool(self.got))
        return self.got

    @workflow.signal
    def poke(self, value: Any) -> None:
        self.got.append(value)


@workflow.defn
class Hello:
    @workflow.run
    async def run(self, name: str) -> str:
        result: str = await workflow.execute_activity(
            echo, f"hello {name}", start_to_close_timeout=THIRTY_SECONDS
        )
        return result


WORKFLOWS = [WithOption, Sleeps, NulResult, Waiter, Hello]
ACTIVITIES = [echo, with_nul]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def boundary_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def client(boundary_url: str) -> AsyncIterator[Any]:
    connected = await turnout.connect(executor="internal", database_url=boundary_url)
    try:
        yield connected
    finally:
        await connected.close()


@pytest.fixture
async def worker(client: Any) -> AsyncIterator[None]:
    async with turnout.Worker(client, task_queue=Q, workflows=WORKFLOWS, activities=ACTIVITIES):
        yield


def _deep(levels: int) -> list[Any]:
    nested: list[Any] = []
    for _ in range(levels - 1):
        nested = [nested]
    return nested


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _first(handle: Any, etype: EventType) -> Event:
    async with asyncio.timeout(WAIT):
        while True:
            for event in await handle.events():
                if event.type is etype:
                    return event
            await asyncio.sleep(0.05)


async def _queue_still_serves(client: Any) -> None:
    """A run started after the bad one completes on the same task queue."""
    handle = await client.start_workflow(Hello.run, "next", id=_id("next"), task_queue=Q)
    assert await handle.result(timeout=timedelta(seconds=WAIT)) == "hello next"


# --------------------------------------------------------------------------- RetryPolicy


def test_a_retry_policy_with_a_misspelt_field_is_refused_naming_it() -> None:
    with pytest.raises(InvalidInputError) as refused:
        RetryPolicy(maximum_attempt=3)  # type: ignore[call-arg]
    message = str(refused.value)
    assert "maximum_attempt" in message
    assert "unknown field" in message
    assert "maximum_attempts" in message  # the fix: the field it meant
    assert "\n" not in message


@pytest.mark.parametrize(
    ("options", "words"),
    [
        pytest.param({"backoff_coefficient": math.nan}, "backoff_coefficient is nan", id="nan"),
        pytest.param({"backoff_coefficient": math.inf}, "backoff_coefficient is inf", id="inf"),
        pytest.param({"initial_interval": HUGE}, "initial_interval is .* maximum", id="huge"),
        pytest.param({"maximum_interval": HUGE}, "maximum_interval is .* maximum", id="max-huge"),
        pytest.param({"initial_interval": timedelta(0)}, "must be positive", id="zero"),
        pytest.param({"initial_interval": timedelta(seconds=-1)}, "must be positive", id="neg"),
    ],
)
def test_a_retry_policy_out_of_range_is_refused_in_one_line(
    options: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidInputError, match=words) as refused:
        RetryPolicy(**options)
    assert "\n" not in str(refused.value)


def test_stored_retry_policies_still_load_and_backoffs_stay_within_the_maximum() -> None:
    stored = RetryPolicy(maximum_attempts=3).model_dump(mode="json")
    assert RetryPolicy.model_validate(stored) == RetryPolicy(maximum_attempts=3)
    assert RetryPolicy.model_validate({}) == RetryPolicy()
    longest = RetryPolicy(initial_interval=MAX_DURATION)
    assert longest.backoff(1_000) == MAX_DURATION  # 100 x initial_interval would overflow


# --------------------------------------------------------------------------- starts


@pytest.mark.parametrize(
    ("change", "words"),
    [
        pytest.param({"args": ["a\x00b"]}, "NUL", id="nul-input"),
        pytest.param({"args": [{"k\x00": 1}]}, "NUL", id="nul-key"),
        pytest.param({"args": [["ok", {"deep": "\x00"}]]}, "NUL", id="nul-nested"),
        pytest.param({"args": ["\ud800"]}, "surrogate", id="lone-surrogate"),
        pytest.param({"workflow": "W" * 300}, "workflow type has at most 255", id="type-300"),
        pytest.param({"workflow": "W\x00"}, "control characters", id="type-nul"),
        pytest.param({"execution_timeout": HUGE}, "execution_timeout is .* maximum", id="huge"),
        pytest.param({"execution_timeout": timedelta(0)}, "must be positive", id="zero"),
        pytest.param({"execution_timeout": timedelta(seconds=-1)}, "must be positive", id="neg"),
        pytest.param({"args": [math.nan]}, "NaN|nan", id="nan"),
        pytest.param({"args": [_deep(MAX_JSON_DEPTH + 1)]}, "deeper than 64", id="deep"),
    ],
)
async def test_a_bad_start_is_refused_at_the_client_and_nothing_is_stored(
    client: Any, change: dict[str, Any], words: str
) -> None:
    before = await snapshot(client)
    start: dict[str, Any] = {"workflow": "Anything", "args": ["x"], "task_queue": "parked"}
    start.update(change)
    with pytest.raises(InvalidInputError, match=words) as refused:
        await client.start_workflow(start.pop("workflow"), id=_id("bad-start"), **start)
    assert "\n" not in str(refused.value)
    assert await snapshot(client) == before


async def test_the_deepest_json_and_the_longest_duration_allowed_are_accepted(
    client: Any,
) -> None:
    nested = _deep(MAX_JSON_DEPTH - 1)  # the list of arguments is the first level
    handle = await client.start_workflow(
        "Anything",
        args=[nested, "tab\tnewline\ncarriage\r"],
        id=_id("deepest"),
        task_queue="parked",
        execution_timeout=MAX_DURATION,
    )
    assert await handle.input() == [nested, "tab\tnewline\ncarriage\r"]


async def test_one_bad_start_among_thirty_concurrent_ones_is_the_only_one_refused(
    client: Any,
) -> None:
    def start(i: int) -> Any:
        text = "bad\x00" if i == 17 else f"ok-{i}"
        return client.start_workflow("Anything", text, id=_id(f"batch-{i}"), task_queue="parked")

    outcomes = await asyncio.gather(*(start(i) for i in range(30)), return_exceptions=True)
    refused = [i for i, o in enumerate(outcomes) if isinstance(o, BaseException)]
    assert refused == [17], outcomes
    assert isinstance(outcomes[17], InvalidInputError)
    for i, handle in enumerate(outcomes):
        if i != 17:
            assert await handle.input() == [f"ok-{i}"]


# --------------------------------------------------------------------------- workflow options


@pytest.mark.parametrize("case", list(OPTIONS))
async def test_a_bad_activity_option_fails_the_workflow_task_naming_it_and_the_queue_goes_on(
    client: Any, worker: None, case: str
) -> None:
    handle = await client.start_workflow(WithOption.run, case, id=_id("option"), task_queue=Q)
    failed = await _first(handle, EventType.WORKFLOW_TASK_FAILED)
    message = failed.attributes["failure"]["message"]
    option = case.split("=")[0].split("<")[0]
    assert option in message, message
    assert any(word in message for word in ("positive", "maximum", "control characters"))
    assert not any(e.type is EventType.ACTIVITY_SCHEDULED for e in await handle.events())
    await _queue_still_serves(client)
    await handle.terminate("bad option")


@pytest.mark.parametrize("how", ["workflow.sleep", "asyncio.sleep", "infinite"])
async def test_a_timer_past_the_maximum_fails_the_workflow_task_and_the_queue_goes_on(
    client: Any, worker: None, how: str
) -> None:
    handle = await client.start_workflow(Sleeps.run, how, id=_id("sleep"), task_queue=Q)
    failed = await _first(handle, EventType.WORKFLOW_TASK_FAILED)
    message = failed.attributes["failure"]["message"]
    assert "maximum" in message or "finite" in message, message
    assert not any(e.type is EventType.TIMER_STARTED for e in await handle.events())
    await _queue_still_serves(client)
    await handle.terminate("bad timer")


# --------------------------------------------------------------------------- results, signals


async def test_an_activity_result_holding_nul_fails_the_activity_without_retries(
    client: Any, worker: None
) -> None:
    handle = await client.start_workflow(NulResult.run, id=_id("nul-result"), task_queue=Q)
    outcome = await handle.result(timeout=timedelta(seconds=WAIT))
    assert outcome["retry_state"] == "non_retryable_failure", outcome
    assert "NUL" in outcome["cause"], outcome
    timeline = await handle.events()
    assert sum(e.type is EventType.ACTIVITY_STARTED for e in timeline) <= 1
    await _queue_still_serves(client)


async def test_signal_arguments_or_names_holding_nul_are_refused_and_the_run_is_unchanged(
    client: Any, worker: None
) -> None:
    handle = await client.start_workflow(Waiter.run, id=_id("signal"), task_queue=Q)
    await _first(handle, EventType.WORKFLOW_TASK_COMPLETED)
    before = await snapshot(client, [handle.result_run_id])
    for name, args, words in (
        ("poke", ["a\x00b"], "NUL"),
        ("poke", [{"nested": ["\x00"]}], "NUL"),
        ("po\x00ke", ["x"], "control characters"),
        ("p" * 256, ["x"], "at most 255"),
    ):
        with pytest.raises(InvalidInputError, match=words):
            await handle.signal(name, args=args)
    assert await snapshot(client, [handle.result_run_id]) == before
    await handle.signal(Waiter.poke, "tab\tnewline\n")
    assert await handle.result(timeout=timedelta(seconds=WAIT)) == ["tab\tnewline\n"]


async def test_nul_in_any_text_of_the_python_api_is_refused_before_the_database(
    client: Any,
) -> None:
    handle = await client.start_workflow("Anything", "x", id=_id("text"), task_queue="parked")
    before = await snapshot(client)
    with pytest.raises(InvalidInputError, match="control characters"):
        client.get_workflow_handle("a\x00b")
    with pytest.raises(InvalidInputError, match="NUL"):
        await handle.terminate("why\x00")
    with pytest.raises(InvalidInputError, match="who made it"):
        await handle.approve("deploy", by="")
    with pytest.raises(InvalidInputError, match="control characters"):
        await handle.approve("deploy", by="al\x00ice")
    with pytest.raises(InvalidInputError, match="NUL"):
        await handle.reject("deploy", by="alice", reason="no\x00")
    with pytest.raises(InvalidInputError, match="control characters"):
        await client.list_workflows(workflow_type="\x00")
    assert await snapshot(client) == before
    assert (await handle.describe()).state is RunState.QUEUED


def test_the_payload_check_of_the_worker_refuses_nul_depth_and_nan() -> None:
    """``codec.check_size`` (what the worker calls on results and commands) checks payloads."""
    for value, words in (
        ({"a": ["\x00"]}, "NUL"),
        ("\x00", "NUL"),
        ([math.nan], "NaN"),
        (math.inf, "inf"),
    ):
        with pytest.raises(InvalidInputError, match=words):
            codec.check_size(value, "the result", 1 << 20)
    codec.check_size(["a backslash and u0000: \\u0000", {"\\u0000": 1}], "the result", 1 << 20)
    deep: list[Any] = []
    for _ in range(5_000):
        deep = [deep]
    with pytest.raises(InvalidInputError, match="deeper than 64"):
        codec.check_size(deep, "the result", 1 << 20)


# --------------------------------------------------------------------------- Temporal


@pytest.mark.temporal
async def test_both_executors_refuse_the_same_starts_and_signals_with_the_same_words(
    sqlite_url: str, temporal_address: str
) -> None:
    internal = await turnout.connect(executor="internal", database_url=sqlite_url)
    temporal = await turnout.connect(executor="temporal", temporal_address=temporal_address)
    bad_starts: list[dict[str, Any]] = [
        {"workflow": "Anything", "args": ["a\x00b"]},
        {"workflow": "W" * 300, "args": ["x"]},
        {"workflow": "Anything", "args": ["x"], "execution_timeout": HUGE},
        {"workflow": "Anything", "args": ["x"], "execution_timeout": timedelta(0)},
        {"workflow": "Anything", "args": [_deep(MAX_JSON_DEPTH + 1)]},
        {"workflow": "Anything", "args": ["x"], "id": "i" * 256},
        {"workflow": "Anything", "args": ["x"], "task_queue": ""},
    ]
    try:
        for bad in bad_starts:
            messages = []
            for connected in (internal, temporal):
                start = {"id": "same-id", "task_queue": "parked", **bad}
                with pytest.raises(InvalidInputError) as refused:
                    await connected.start_workflow(start.pop("workflow"), **start)
                messages.append(str(refused.value))
            assert messages[0] == messages[1]
        for connected in (internal, temporal):
            with pytest.raises(InvalidInputError, match="NUL"):
                await connected.get_workflow_handle("no-such-run").signal("poke", "a\x00")
    finally:
        await internal.close()
        await temporal.close()
