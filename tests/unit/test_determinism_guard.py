"""The internal executor's determinism guard, called directly: what it refuses, what it
lets through, and that it leaves the thread's profile function as it found it."""

from __future__ import annotations

import datetime
import logging
import random
import sys
import time
from time import time as wall_clock
from typing import Any

import pytest

from turnout import RestrictedWorkflowAccessError, workflow
from turnout.executors.internal.guard import guard_for, run_guarded, unguarded_methods


@workflow.defn
class Guarded:
    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn(sandboxed=False)
class Unguarded:
    @workflow.run
    async def run(self) -> None:
        return None


def _guarded(call: Any) -> Any:
    return run_guarded(guard_for(Guarded), call)


@pytest.mark.parametrize(
    ("call", "name", "replacement"),
    [
        (lambda: time.time(), "time.time()", "workflow.now()"),
        (lambda: wall_clock(), "time.time()", "workflow.now()"),
        (lambda: datetime.datetime.now(datetime.UTC), "datetime.datetime.now()", "workflow.now()"),
        (lambda: random.choice([1, 2, 3]), "random.choice()", "workflow.random()"),
        (lambda: random.random(), "random.random()", "workflow.random()"),
        (lambda: time.sleep(0), "time.sleep()", "workflow.sleep()"),
        (lambda: open(__file__), "open()", "activity"),  # noqa: SIM115
    ],
)
def test_workflow_code_is_refused_with_the_replacement(
    call: Any, name: str, replacement: str
) -> None:
    with pytest.raises(RestrictedWorkflowAccessError) as refused:
        _guarded(call)
    message = str(refused.value)
    assert message.startswith(f"{name} is not allowed in workflow code")
    assert replacement in message
    assert "\n" not in message


def test_libraries_and_replacements_go_through() -> None:
    logger = logging.getLogger("turnout.tests.guard")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        # logging reads the clock for its record: the standard library's call, not ours
        _guarded(lambda: logger.warning("from workflow code"))
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["from workflow code"]
    own = random.Random(7)
    assert _guarded(lambda: own.randint(1, 6)) == random.Random(7).randint(1, 6)
    assert isinstance(_guarded(lambda: datetime.datetime(2030, 1, 2)), datetime.datetime)


def test_unrestricted_blocks_and_unsandboxed_workflows_go_through() -> None:
    def licensed() -> float:
        with workflow.unsafe.sandbox_unrestricted():
            return time.time()

    assert isinstance(_guarded(licensed), float)
    assert guard_for(Unguarded) is None
    assert isinstance(run_guarded(guard_for(Unguarded), time.time), float)


def test_the_guard_is_lifted_after_each_call_and_after_a_refusal() -> None:
    def other(frame: Any, event: str, arg: Any) -> None:
        return None

    sys.setprofile(other)
    try:
        with pytest.raises(RestrictedWorkflowAccessError):
            _guarded(lambda: time.time())
        assert sys.getprofile() is other
        assert _guarded(lambda: 41 + 1) == 42
        assert sys.getprofile() is other
    finally:
        sys.setprofile(None)
    assert isinstance(time.time(), float)  # outside the guard, nothing is refused


@unguarded_methods
class _Runtime:
    """Stands for the runtime behind ``workflow.*``: turnout's work, not workflow code."""

    def stamp(self) -> float:
        return time.time()


def test_the_runtimes_own_work_runs_without_the_guard() -> None:
    runtime = _Runtime()
    assert isinstance(_guarded(runtime.stamp), float)  # not refused: not workflow code
    with pytest.raises(RestrictedWorkflowAccessError):
        _guarded(lambda: (runtime.stamp(), time.time()))  # workflow code still is
