"""Bad input, payloads: arguments that do not fit the type hints or the signature,
results that cannot be stored as JSON, and payloads over the limit
(``TURNOUT_MAX_PAYLOAD_BYTES``).

Every test compares the tables (or the rows of runs that were there before) before
and after the bad input, on SQLite and PostgreSQL (bad_input_kit.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

import turnout
from tests.reliability.bad_input_kit import (
    ACTIVITIES,
    SMALL_LIMIT,
    WAIT,
    WORKFLOWS,
    BigResult,
    CallsByName,
    Hello,
    Measure,
    NanResult,
    Q,
    Typed,
    Waiter,
    new_id,
    snapshot,
    unjson,
    wait_state,
)
from tests.reliability.bad_input_kit import bad_input_client as bad_input_client  # the fixture
from tests.reliability.bad_input_kit import bad_input_url as bad_input_url  # the fixture
from tests.reliability.bad_input_kit import baseline as baseline  # the fixture
from turnout import (
    ApplicationError,
    ConfigurationError,
    EventType,
    RetryState,
    RunState,
    WorkflowFailureError,
)
from turnout.contracts.errors import PayloadTooLargeError

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
        await client.start_workflow(Typed.run, args=args, id=new_id("typed"), task_queue=Q)
    assert all(word in str(refused.value) for word in words), str(refused.value)
    assert await snapshot(client) == before
    # The same start with fitting arguments is accepted.
    handle = await client.start_workflow(
        Typed.run, args=[1, {"order_id": "o-1", "amount": 3}], id=new_id("typed"), task_queue=Q
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
        await client.start_workflow(Measure.run, unjson(value), id=new_id(value), task_queue=Q)
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
        CallsByName.run, args=["unstorable", [kind], 5], id=new_id(kind), task_queue=Q
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
    handle = await client.start_workflow(NanResult.run, id=new_id("nanwf"), task_queue=Q)
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
    handle = await client.start_workflow(Waiter.run, id=new_id("waiter"), task_queue=Q)
    await wait_state(handle, RunState.RUNNING)
    before = await snapshot(client)
    for kind in ("object", "nan"):
        with pytest.raises((TypeError, ValueError), match="signal poke"):
            await handle.signal(Waiter.poke, unjson(kind))
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
        await client.start_workflow(Hello.run, "x" * SMALL_LIMIT, id=new_id("big"), task_queue=Q)
    _assert_names_the_limit(refused.value, "the input of workflow Hello")
    assert refused.value.limit == SMALL_LIMIT
    assert refused.value.size > SMALL_LIMIT
    assert await snapshot(client) == before


async def test_oversize_signal_arguments_are_refused_and_the_run_is_unchanged(
    small_limit_client: Any,
) -> None:
    client = small_limit_client
    handle = await client.start_workflow(Waiter.run, id=new_id("waiter"), task_queue=Q)
    await wait_state(handle, RunState.RUNNING)
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
        CallsByName.run, args=["big_result", [SMALL_LIMIT], 3], id=new_id("bigres"), task_queue=Q
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
    handle = await client.start_workflow(
        BigResult.run, SMALL_LIMIT, id=new_id("bigwf"), task_queue=Q
    )
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
