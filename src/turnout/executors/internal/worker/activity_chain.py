"""An activity attempt through the worker's interceptors (internal executor).

Each attempt passes the ``turnout.worker.Interceptor`` objects' activity links
(``intercept_activity``): the last inbound link runs the attempt as the worker would
without them; the last outbound link is the attempt's own context, so ``activity.info()``
and ``activity.heartbeat()`` pass the links' ``ActivityOutboundInterceptor`` first.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from turnout.contracts.worker_interceptors import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)
from turnout.executors.internal.worker.process_pool import ProcessPool
from turnout.workflows._definitions import ActivityDefinition
from turnout.workflows._runtime import set_activity_runtime

__all__ = ["intercepted_attempt", "start_attempt"]

Attempt = Callable[[Callable[..., Any], Sequence[Any]], Awaitable[Any]]
"""Runs ``fn(*args)`` as the worker runs an attempt (a task, a thread, a process)."""


class _RootOutbound(ActivityOutboundInterceptor):
    def __init__(self, runtime: Any) -> None:
        # The end of the chain: there is no next link.
        self._runtime = runtime

    def info(self) -> Any:
        return self._runtime.info()

    def heartbeat(self, *details: Any) -> None:
        self._runtime.heartbeat(*details)


class _Intercepted:
    """The attempt's runtime: ``info`` and ``heartbeat`` through the outbound chain, the
    rest straight to the attempt's context."""

    def __init__(self, runtime: Any, outbound: ActivityOutboundInterceptor) -> None:
        self._runtime = runtime
        self._outbound = outbound

    def info(self) -> Any:
        return self._outbound.info()

    def heartbeat(self, *details: Any) -> None:
        self._outbound.heartbeat(*details)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime, name)


class _RootInbound(ActivityInboundInterceptor):
    def __init__(self, attempt: Attempt, runtime: Any) -> None:
        # The end of the chain: there is no next link.
        self._attempt = attempt
        self._runtime = runtime

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        set_activity_runtime(_Intercepted(self._runtime, outbound))

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        return await self._attempt(input.fn, input.args)


async def intercepted_attempt(
    interceptors: Sequence[Interceptor],
    fn: Callable[..., Any],
    args: Sequence[Any],
    header: dict[str, Any],
    executor: Any,
    runtime: Any,
    attempt: Attempt,
) -> Any:
    """The attempt through the interceptors (run in the attempt's own context)."""
    chain: ActivityInboundInterceptor = _RootInbound(attempt, runtime)
    for interceptor in reversed(interceptors):
        chain = interceptor.intercept_activity(chain)
    chain.init(_RootOutbound(runtime))
    return await chain.execute_activity(ExecuteActivityInput(fn, list(args), executor, header))


def start_attempt(
    defn: ActivityDefinition,
    fn: Callable[..., Any],
    args: Sequence[Any],
    context: contextvars.Context,
    *,
    executor: concurrent.futures.Executor | None,
    pool: ProcessPool | None,
    info: Any,
    beats: Any,
) -> asyncio.Future[Any]:
    """``fn(*args)`` started as the worker runs an attempt: a task (async), a process of
    ``pool`` (whose heartbeats go to ``beats``), or a thread of ``executor``; in
    ``context``."""
    if defn.is_async:
        return asyncio.get_running_loop().create_task(fn(*args), context=context)
    if pool is not None:
        return asyncio.ensure_future(pool.run(defn.name, fn, list(args), info, beats))
    assert executor is not None
    return asyncio.get_running_loop().run_in_executor(executor, lambda: context.run(fn, *args))
