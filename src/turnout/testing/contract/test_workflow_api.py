"""The contract for more of temporalio's workflow API (``@workflow.init``, waiting on several
tasks, handlers that must finish): the same results, normalized timelines and replays on
every executor. Run it with ``pytest --pyargs turnout.testing.contract``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from turnout import RunState
from turnout.replay import replay_run
from turnout.testing.contract import workflows_api as api
from turnout.testing.contract.test_contract import (
    COMPLETED,
    LIMIT,
    STARTED,
    done,
    scheduled,
    start,
    timeline,
    until,
)
from turnout.testing.contract.workflows import Order
from turnout.testing.harness import ExecutorHarness

pytestmark = pytest.mark.asyncio


@pytest.fixture
def turnout_workflows() -> Sequence[type]:
    return api.WORKFLOWS


@pytest.fixture
def turnout_activities() -> Sequence[Callable[..., Any]]:
    return api.ACTIVITIES


def signal(name: str) -> tuple[str, dict[str, Any]]:
    return ("signal_received", {"name": name})


def timer(duration: float) -> tuple[str, dict[str, Any]]:
    return ("timer_started", {"duration": duration})


FIRED: tuple[str, dict[str, Any]] = ("timer_fired", {})


async def replays(executor: ExecutorHarness, handle: Any) -> bool:
    """Whether the recorded run replays with the same code, producing the same commands."""
    replayed = await replay_run(executor.client, handle.id, handle.result_run_id, api.WORKFLOWS)
    assert replayed.deterministic, replayed.summary
    return True


async def test_init_receives_the_run_input(executor: ExecutorHarness) -> None:
    """The object is made with the run's arguments, and workflow.* works in __init__."""
    handle = await start(executor, api.InitFromInput.run, Order(order_id="o-7", amount=3), "Hi")
    line = "Hi, o-7 from InitFromInput"

    async def initialized() -> bool:
        return bool(await handle.query(api.InitFromInput.greeting_line) == line)

    await until(initialized)
    await handle.signal(api.InitFromInput.add, "tea")
    assert await handle.result(timeout=LIMIT) == f"{line}: 3 x ['tea']"
    assert (await handle.describe()).state is RunState.COMPLETED
    assert await timeline(handle) == [STARTED, signal("add"), COMPLETED]
    assert await replays(executor, handle)


async def _open_in_turn(handle: Any, *rounds: str) -> None:
    """Open the gates of each round once the workflow has recorded that its previous wait
    is over (it runs the ``greet`` activity after each; a query could run ahead of the
    worker on the internal executor, which answers queries by replaying the history)."""
    for waits_over, gates in enumerate(rounds):

        async def recorded(count: int = waits_over) -> bool:
            events = await handle.events()
            return sum(e.type.value == "activity_completed" for e in events) >= count

        await until(recorded)
        for gate in gates:
            await handle.signal(api.Gates.open, gate)


def _gate_steps(*rounds: str) -> list[tuple[str, dict[str, Any]]]:
    """The timeline: each round's signals, then the ``greet`` activity run after a wait."""
    steps = [STARTED]
    for gates in rounds:
        steps += [signal("open")] * len(gates) + [scheduled("greet"), done("greet")]
    return [*steps, COMPLETED]


async def test_wait_returns_lists_in_the_order_given(executor: ExecutorHarness) -> None:
    """FIRST_COMPLETED returns the first to finish; ALL_COMPLETED lists the rest in the
    order they were passed, not the order they finished (c before a here)."""
    handle = await start(executor, api.Gates.run, "workflow.wait")
    await _open_in_turn(handle, "b", "ca")
    assert await handle.result(timeout=LIMIT) == [[["b"], ["a", "c"]], ["a", "c"]]
    assert await timeline(handle) == _gate_steps("b", "ca")
    assert await replays(executor, handle)


# Temporal's sandbox warns about asyncio.wait (its sets' order may change on replay);
# a warning is all it is there, so the suite's warnings-as-errors must not make it more.
@pytest.mark.filterwarnings("ignore:asyncio.wait\\(\\) is non-deterministic:UserWarning")
async def test_asyncio_wait_in_workflow_code(executor: ExecutorHarness) -> None:
    handle = await start(executor, api.Gates.run, "asyncio.wait")
    await _open_in_turn(handle, "b", "ca")
    assert await handle.result(timeout=LIMIT) == [["b"], ["a", "c"]]
    assert await timeline(handle) == _gate_steps("b", "ca")
    assert await replays(executor, handle)


async def test_as_completed_yields_in_the_order_finished(executor: ExecutorHarness) -> None:
    handle = await start(executor, api.Gates.run, "as_completed")
    await _open_in_turn(handle, "c", "a", "b")
    assert await handle.result(timeout=LIMIT) == ["c", "a", "b"]
    assert await timeline(handle) == _gate_steps("c", "a", "b")
    assert await replays(executor, handle)


async def test_wait_timeouts_and_first_exception(executor: ExecutorHarness) -> None:
    """A timeout is a durable timer: it fires when nothing finished in time, and is
    cancelled when the awaited work finishes first."""
    handle = await start(executor, api.WaitTimeouts.run)
    assert await handle.result(timeout=LIMIT) == [
        ["timed out", 0, 1],
        "as_completed timed out",
        [True, True, "ApplicationError"],
        [1, 0, "Hello, wait!"],
    ]
    assert await timeline(handle) == [
        STARTED,
        timer(0.3),
        FIRED,
        timer(0.2),
        FIRED,
        scheduled("greet"),
        timer(60.0),
        done("greet"),
        ("timer_canceled", {}),
        COMPLETED,
    ]
    assert await replays(executor, handle)


async def test_all_handlers_finished_waits_for_async_handlers(executor: ExecutorHarness) -> None:
    handle = await start(executor, api.HandlersFinish.run)
    await handle.signal(api.HandlersFinish.hello, "a")
    await handle.signal(api.HandlersFinish.finish)

    async def checked_once() -> bool:
        return bool(await handle.query(api.HandlersFinish.checked) == [False])

    await until(checked_once)
    await handle.signal(api.HandlersFinish.release)
    result = await handle.result(timeout=LIMIT)
    assert result == {"checks": [False, True], "greetings": ["Hello, a!"]}
    assert await timeline(handle) == [
        STARTED,
        signal("hello"),
        signal("finish"),
        signal("release"),
        scheduled("greet"),
        done("greet"),
        COMPLETED,
    ]
    assert await replays(executor, handle)


async def test_all_handlers_finished_once_sync_handlers_return(executor: ExecutorHarness) -> None:
    handle = await start(executor, api.HandlersFinish.run)
    await handle.signal(api.HandlersFinish.finish)
    assert await handle.result(timeout=LIMIT) == {"checks": [True, True], "greetings": []}
    assert await timeline(handle) == [STARTED, signal("finish"), COMPLETED]
    assert await replays(executor, handle)
