"""``turnout.testing.ActivityEnvironment``: activity functions run in a test, with
``activity.*`` working in them, as temporalio's environment runs them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from turnout import ConfigurationError, activity
from turnout.contracts.limits import InvalidInputError
from turnout.exceptions import CancelledError
from turnout.testing import ActivityEnvironment

WAIT = 5.0
"""Seconds any wait in these tests may take before the test fails."""


@activity.defn
def describe() -> dict[str, Any]:
    info = activity.info()
    return {"id": info.activity_id, "attempt": info.attempt, "in": activity.in_activity()}


@activity.defn
def count_to(n: int) -> int:
    for i in range(n):
        activity.heartbeat(i, f"step {i}")
    return n


@activity.defn
async def count_to_async(n: int) -> int:
    for i in range(n):
        activity.heartbeat(i)
        await asyncio.sleep(0)
    return n


@activity.defn
async def wait_until_cancelled(started: asyncio.Event, seen: list[bool]) -> str:
    started.set()
    try:
        await activity.wait_for_cancelled()
        await asyncio.Event().wait()  # the task is cancelled: this await raises
    finally:
        seen.append(activity.is_cancelled())
    return "never"


@activity.defn
def beat_until_cancelled(started: threading.Event, seen: list[bool]) -> str:
    started.set()
    activity.wait_for_cancelled_sync(WAIT)
    seen.append(activity.is_cancelled())
    activity.heartbeat("after the cancel")  # raises CancelledError
    return "not cancelled"


@activity.defn
async def whose_client() -> Any:
    return activity.client()


class Activities:
    """A class of method activities holding a resource (a stand-in for a pool)."""

    def __init__(self, pool: list[str]) -> None:
        self.pool = pool

    @activity.defn
    def fetch(self, key: str) -> str:
        activity.heartbeat(key)
        return f"{self.pool[0]}:{key}"

    @activity.defn
    async def fetch_async(self, key: str) -> str:
        return f"{self.pool[0]}:{key}:{activity.info().activity_type}"


@activity.defn
class Greeter:
    """A callable activity class."""

    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    async def __call__(self, name: str) -> str:
        activity.heartbeat(name)
        return f"{self.greeting}, {name}"


def test_info_defaults_match_temporalios_test_defaults() -> None:
    info = ActivityEnvironment().info
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert (info.activity_id, info.activity_type, info.attempt) == ("test", "unknown", 1)
    assert (info.workflow_id, info.workflow_run_id, info.workflow_type) == (
        "test",
        "test-run",
        "test",
    )
    assert (info.task_queue, info.workflow_namespace, info.is_local) == ("test", "default", False)
    assert list(info.heartbeat_details) == []
    assert info.heartbeat_timeout is None
    assert info.start_to_close_timeout == info.schedule_to_close_timeout == timedelta(seconds=1)
    assert info.scheduled_time == info.started_time == epoch
    assert ActivityEnvironment.default_info() == info


def test_run_returns_a_sync_activitys_result_with_its_info() -> None:
    env = ActivityEnvironment()
    assert env.run(describe) == {"id": "test", "attempt": 1, "in": True}
    assert not activity.in_activity()
    with pytest.raises(activity.NotInActivityError):
        activity.info()


def test_an_overridden_info_is_what_the_activity_sees() -> None:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, activity_id="a-7", attempt=3)
    assert env.run(describe) == {"id": "a-7", "attempt": 3, "in": True}


def test_heartbeats_reach_on_heartbeat_in_order() -> None:
    env = ActivityEnvironment()
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    assert env.run(count_to, 3) == 3
    assert beats == [(0, "step 0"), (1, "step 1"), (2, "step 2")]


def test_heartbeats_go_nowhere_by_default() -> None:
    assert ActivityEnvironment().run(count_to, 2) == 2


def test_a_heartbeat_detail_a_worker_would_refuse_fails_here_too() -> None:
    env = ActivityEnvironment()
    with pytest.raises(InvalidInputError, match="heartbeat details"):
        env.run(activity.heartbeat, float("nan"))


@pytest.mark.asyncio
async def test_an_async_activity_gives_a_coroutine_whose_result_is_its_own() -> None:
    env = ActivityEnvironment()
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    pending = env.run(count_to_async, 2)
    assert asyncio.iscoroutine(pending)
    assert await asyncio.wait_for(pending, WAIT) == 2
    assert beats == [(0,), (1,)]


@pytest.mark.asyncio
async def test_cancel_cancels_a_running_async_activitys_task() -> None:
    env = ActivityEnvironment()
    started, seen = asyncio.Event(), list[bool]()
    running = asyncio.ensure_future(env.run(wait_until_cancelled, started, seen))
    await asyncio.wait_for(started.wait(), WAIT)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, WAIT)
    assert seen == [True]


@pytest.mark.asyncio
async def test_an_async_activity_run_after_cancel_is_cancelled_at_once() -> None:
    env = ActivityEnvironment()
    env.cancel()
    seen: list[bool] = []
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(env.run(wait_until_cancelled, asyncio.Event(), seen), WAIT)
    assert seen == []  # cancelled before its first line ran


def test_cancel_reaches_a_sync_activity_at_its_next_heartbeat() -> None:
    env = ActivityEnvironment()
    started, seen = threading.Event(), list[bool]()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(env.run, beat_until_cancelled, started, seen)
        assert started.wait(WAIT)
        env.cancel()
        with pytest.raises(CancelledError):
            running.result(WAIT)
    assert seen == [True]


def test_a_cancel_from_on_heartbeat_raises_from_that_heartbeat() -> None:
    env = ActivityEnvironment()
    beats: list[int] = []

    def on_heartbeat(i: int, _: str) -> None:
        beats.append(i)
        if i == 1:
            env.cancel()
            env.cancel()  # only the first call has an effect

    env.on_heartbeat = on_heartbeat
    with pytest.raises(CancelledError):
        env.run(count_to, 5)
    assert beats == [0, 1]


@pytest.mark.asyncio
async def test_activity_client_returns_the_environments_client() -> None:
    client = object()
    env = ActivityEnvironment(client=client)
    assert await asyncio.wait_for(env.run(whose_client), WAIT) is client
    assert env.run(activity.client) is client  # a sync activity's too, as on workers


@pytest.mark.asyncio
async def test_activity_client_without_a_client_says_how_to_give_one() -> None:
    with pytest.raises(RuntimeError, match=r"ActivityEnvironment\(client=\.\.\.\)"):
        await asyncio.wait_for(ActivityEnvironment().run(whose_client), WAIT)


@pytest.mark.asyncio
async def test_method_activities_and_callable_instances_run_bound() -> None:
    env = ActivityEnvironment()
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    activities = Activities(["db"])
    assert env.run(activities.fetch, "k1") == "db:k1"
    assert await asyncio.wait_for(env.run(activities.fetch_async, "k2"), WAIT) == "db:k2:unknown"
    assert await asyncio.wait_for(env.run(Greeter("Hello"), "Ada"), WAIT) == "Hello, Ada"
    assert beats == [("k1",), ("Ada",)]


def test_the_activity_logger_names_the_environments_activity(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id="wf-9")
    with caplog.at_level(logging.INFO, logger="turnout.activity"):
        env.run(activity.logger.info, "hello")
    [record] = caplog.records
    assert record.getMessage() == "hello (unknown test of wf-9)"
    assert record.__dict__["workflow_id"] == "wf-9"


@pytest.mark.asyncio
async def test_recorded_artifacts_are_kept_on_the_environment() -> None:
    env = ActivityEnvironment()
    artifact = await asyncio.wait_for(
        env.run(activity.record_artifact, "report", "s3://b/k", size=3), WAIT
    )
    assert env.artifacts == [artifact]
    assert (artifact.name, artifact.uri, artifact.workflow_id) == ("report", "s3://b/k", "test")


@pytest.mark.parametrize("name", ["payload_converter", "metric_meter", "worker_shutdown"])
def test_what_turnout_does_not_offer_is_refused_by_name(name: str) -> None:
    env = ActivityEnvironment()
    with pytest.raises(ConfigurationError, match=rf"ActivityEnvironment\.{name} is not offered"):
        getattr(env, name)
    with pytest.raises(ConfigurationError, match=name):
        setattr(env, name, None)
    assert not hasattr(env, name)


def test_cancellation_details_are_refused() -> None:
    env = ActivityEnvironment()
    with pytest.raises(ConfigurationError, match="cancellation_details"):
        env.cancel(cancellation_details="because")
    assert env.run(count_to, 1) == 1  # the refused call cancelled nothing


# -- the same test on temporalio's environment ------------------------------------------


async def _scenario(act: Any, environment: Any) -> dict[str, Any]:
    """A test written for temporalio's ActivityEnvironment, with its ``activity`` module
    and ``ActivityEnvironment`` class given: what it observes."""

    @act.defn
    def work(n: int) -> str:
        info = act.info()
        for i in range(n):
            act.heartbeat(i, info.activity_id)
        return f"{info.activity_type}/{info.attempt}/{info.workflow_id}/{act.is_cancelled()}"

    @act.defn
    async def watch(n: int) -> str:
        for i in range(n):
            act.heartbeat(i)
            await asyncio.sleep(0)
        await act.wait_for_cancelled()
        return "never"

    @act.defn
    async def no_client() -> Any:
        return act.client()

    observed: dict[str, Any] = {}
    env = environment()
    env.info = dataclasses.replace(env.info, attempt=2, activity_type="work")
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    observed["result"] = env.run(work, 2)
    observed["beats"] = list(beats)

    for fn in (work, watch):
        env = environment()
        beats = []

        def on_heartbeat(*details: Any, env: Any = env, beats: list[Any] = beats) -> None:
            beats.append(details)
            if details[0] == 1:
                env.cancel()

        env.on_heartbeat = on_heartbeat
        try:
            outcome = env.run(fn, 5)
            if asyncio.iscoroutine(outcome):
                outcome = await asyncio.wait_for(outcome, WAIT)
        except (Exception, asyncio.CancelledError) as exc:  # what each raises is compared
            outcome = (type(exc).__name__, isinstance(exc, asyncio.CancelledError))
        observed[fn.__name__] = (outcome, [d[0] for d in beats])

    try:
        await asyncio.wait_for(environment().run(no_client), WAIT)
    except RuntimeError as exc:
        observed["no_client"] = type(exc).__name__
    return observed


@pytest.mark.asyncio
async def test_a_test_written_for_temporalios_environment_observes_the_same() -> None:
    temporalio_activity = pytest.importorskip("temporalio.activity")
    temporalio_testing = pytest.importorskip("temporalio.testing")
    theirs = await _scenario(temporalio_activity, temporalio_testing.ActivityEnvironment)
    ours = await _scenario(activity, ActivityEnvironment)
    assert ours == theirs
    assert ours == {
        "result": "work/2/test/False",
        "beats": [(0, "test"), (1, "test")],
        "work": (("CancelledError", False), [0, 1]),
        "watch": (("CancelledError", True), [0, 1]),
        "no_client": "RuntimeError",
    }
