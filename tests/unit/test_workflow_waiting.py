"""``workflow.wait`` / ``workflow.as_completed`` on a plain asyncio loop (they use only the
running loop), and the internal loop's sets that iterate in the order tasks were made."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from turnout import workflow
from turnout.contracts.limits import InvalidInputError
from turnout.executors.internal.loop import WorkflowEventLoop, WorkflowTimerHandle


def _run(main: Callable[[], Awaitable[Any]]) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(5):
            return await main()

    return asyncio.run(bounded())


def _after(gate: asyncio.Event, value: str) -> Callable[[], Awaitable[str]]:
    async def waits() -> str:
        await gate.wait()
        return value

    return waits


async def _fails() -> str:
    raise ValueError("refused")


def test_wait_lists_done_and_pending_in_the_order_given() -> None:
    async def main() -> Any:
        gates = {name: asyncio.Event() for name in "abc"}
        tasks = [asyncio.create_task(_after(gates[n], n)()) for n in "abc"]
        gates["b"].set()
        done, pending = await workflow.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        first = ([t.result() for t in done], [tasks.index(t) for t in pending])
        gates["c"].set()
        await asyncio.sleep(0.01)
        gates["a"].set()
        done, pending = await workflow.wait(pending)
        return first, [t.result() for t in done], pending

    assert _run(main) == ((["b"], [0, 2]), ["a", "c"], [])


def test_wait_first_exception_and_timeout() -> None:
    async def main() -> Any:
        never = asyncio.create_task(asyncio.Event().wait())
        failing = asyncio.create_task(_fails())
        done, pending = await workflow.wait([never, failing], return_when=asyncio.FIRST_EXCEPTION)
        assert (done, pending) == ([failing], [never])
        assert isinstance(failing.exception(), ValueError)
        done, pending = await workflow.wait([never], timeout=timedelta(milliseconds=20))
        never.cancel()
        return done, len(pending)

    assert _run(main) == ([], 1)


def test_wait_refuses_what_asyncio_wait_refuses() -> None:
    async def main() -> None:
        future = asyncio.get_running_loop().create_future()
        with pytest.raises(TypeError, match="iterable"):
            await workflow.wait(future)  # type: ignore[call-overload]
        with pytest.raises(ValueError, match="at least one"):
            await workflow.wait([])
        with pytest.raises(ValueError, match="return_when"):
            await workflow.wait([future], return_when="SOMETIME")
        coro = asyncio.sleep(0)
        with pytest.raises(TypeError, match="coroutines"):
            await workflow.wait([coro])  # type: ignore[list-item]
        coro.close()
        with pytest.raises(InvalidInputError):
            await workflow.wait([future], timeout=math.nan)

    _run(main)


def test_as_completed_yields_in_the_order_finished() -> None:
    async def main() -> list[str]:
        gates = {name: asyncio.Event() for name in "abc"}
        seen: list[str] = []
        for next_done in workflow.as_completed([_after(gates[n], n)() for n in "abc"]):
            if not seen:
                gates["c"].set()
            seen.append(await next_done)
            for name in "ab":
                if not gates[name].is_set():
                    gates[name].set()
                    break
        return seen

    assert _run(main) == ["c", "a", "b"]


def test_as_completed_times_out_what_is_left() -> None:
    async def main() -> list[str]:
        ready = asyncio.Event()
        ready.set()
        never = asyncio.Event()
        outcomes: list[str] = []
        awaitables = [_after(never, "never")(), _after(ready, "ready")()]
        for next_done in workflow.as_completed(awaitables, timeout=0.02):
            try:
                outcomes.append(await next_done)
            except TimeoutError:
                outcomes.append("timed out")
        return outcomes

    assert _run(main) == ["ready", "timed out"]


class _Host:
    """A timer host for a workflow loop driven by hand, with no timers."""

    def start_timer(self, handle: WorkflowTimerHandle, delay: float) -> None:
        raise AssertionError("no timers here")

    def cancel_timer(self, handle: WorkflowTimerHandle) -> None:
        raise AssertionError("no timers here")

    def now_timestamp(self) -> float:
        return 0.0

    def on_loop_error(self, context: dict[str, Any]) -> None:
        raise AssertionError(context)


def _asyncio_wait_order(count: int) -> list[int]:
    loop = WorkflowEventLoop(_Host())  # type: ignore[abstract]

    async def main() -> list[int]:
        tasks = [asyncio.create_task(asyncio.sleep(0)) for _ in range(count)]
        futures = [loop.create_future() for _ in range(count)]
        for future in reversed(futures):
            future.set_result(None)
        done, _ = await asyncio.wait([*reversed(tasks), *futures])
        return [tasks.index(t) if t in tasks else count + futures.index(t) for t in done]

    main_task = loop.create_task(main())
    loop.step()
    return list(main_task.result())


def test_asyncio_wait_on_the_workflow_loop_iterates_in_the_order_things_were_made() -> None:
    """Hashing by address would give each run (and each replay) its own order."""
    assert _asyncio_wait_order(40) == list(range(80))
    assert _asyncio_wait_order(40) == _asyncio_wait_order(40)
