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


async def replays(executor: ExecutorHarness, handle: Any) -> bool:
    """Whether the recorded run replays with the same code, producing the same commands."""
    replayed = await replay_run(executor.client, handle.id, handle.run_id, api.WORKFLOWS)
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
