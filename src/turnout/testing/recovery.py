"""Crash-and-recover tests: prove that workflows survive a worker killed mid-run.

A worker of the internal executor runs in a child process; the test waits until
a condition holds (an event on a run's timeline, a file an activity wrote, ...),
kills that process with SIGKILL, starts a fresh one and awaits the outcome::

    from turnout import EventType
    from turnout.testing import CrashRecovery

    async with CrashRecovery(
        database_url=url, task_queue="shop", modules=["myapp.workflows"]
    ) as recovery:
        handle = await client.start_workflow(Checkout.run, "o-1", id="o-1", task_queue="shop")
        await recovery.crash(EventType.ACTIVITY_STARTED, handle=handle)
        assert await recovery.result(handle) == "done"

or, in one call, :func:`crash_and_recover`. Leaving the ``async with`` block
stops every worker process it started, whatever happened inside.

The child process runs this module's entry point, which also works by hand::

    python -m turnout.testing.recovery --task-queue shop --module myapp.workflows

It loads every ``@workflow.defn`` class and ``@activity.defn`` function of the
given modules (or only ``module:attr`` when an attribute is named), runs a
:class:`turnout.Worker` with a short reaper interval, so that an expired lease
is noticed quickly, prints ``ready <identity>`` and stops on SIGTERM or SIGINT.
The database URL comes from ``--database-url`` or ``TURNOUT_DATABASE_URL``.

Only the standard library is imported until a worker process is started.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    from turnout.contracts.events import EventType
    from turnout.contracts.executor import WorkflowHandle

    _Condition: TypeAlias = EventType | Callable[[], bool | Awaitable[bool]]

from turnout._discovery import Definitions, load_definitions
from turnout.testing._worker_child import DEFAULT_REAPER_INTERVAL, main
from turnout.testing._worker_process import (
    WorkerProcess,
    WorkerProcessError,
    output_tail,
    worker_targets,
)

__all__ = [
    "CrashRecovery",
    "Definitions",
    "WorkerProcess",
    "WorkerProcessError",
    "crash_and_recover",
    "load_definitions",
    "main",
]


class CrashRecovery:
    """Run a worker process, crash it when a condition holds, recover with a fresh one.

    ``async with CrashRecovery(...) as recovery:`` starts the first worker process;
    :meth:`crash` waits for a condition, kills that process with SIGKILL and starts
    the next; :meth:`result` awaits a run's outcome while watching that the current
    worker stays alive. Leaving the block stops every worker process (SIGTERM after
    success, SIGKILL after an error), so none outlives the test.

    The arguments are those of :class:`WorkerProcess`, plus ``start_timeout`` (seconds
    a worker process may take to become ready) and ``poll_interval`` (seconds between
    two checks of a condition).
    """

    def __init__(
        self,
        *,
        database_url: str,
        task_queue: str,
        modules: Sequence[str] = (),
        workflows: Sequence[type] = (),
        activities: Sequence[Callable[..., Any]] = (),
        tenant_id: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        pythonpath: Sequence[str | os.PathLike[str]] = (),
        env: dict[str, str] | None = None,
        reaper_interval: timedelta = DEFAULT_REAPER_INTERVAL,
        python: str | None = None,
        start_timeout: float = 30.0,
        poll_interval: float = 0.05,
    ) -> None:
        worker_targets(modules, workflows, activities)  # fail here, not in a child process
        self._options: dict[str, Any] = {
            "database_url": database_url,
            "task_queue": task_queue,
            "modules": modules,
            "workflows": workflows,
            "activities": activities,
            "tenant_id": tenant_id,
            "cwd": cwd,
            "pythonpath": pythonpath,
            "env": env,
            "reaper_interval": reaper_interval,
            "python": python,
        }
        self._start_timeout = start_timeout
        self._poll_interval = poll_interval
        self._workers: list[WorkerProcess] = []

    @property
    def workers(self) -> tuple[WorkerProcess, ...]:
        """Every worker process started so far, oldest first; the last is the current one."""
        return tuple(self._workers)

    @property
    def current(self) -> WorkerProcess:
        """The worker process that is running now."""
        if not self._workers:
            raise RuntimeError("no worker process yet: enter the CrashRecovery block first")
        return self._workers[-1]

    async def _start_next(self) -> WorkerProcess:
        n = len(self._workers) + 1
        worker = WorkerProcess(identity=f"recovery-{n}-{uuid.uuid4().hex[:8]}", **self._options)
        self._workers.append(worker)
        await worker.start(timeout=self._start_timeout)
        return worker

    async def start(self) -> None:
        """Start the first worker process (``async with`` does this)."""
        if self._workers:
            raise RuntimeError("CrashRecovery was already started")
        await self._start_next()

    async def wait_until(
        self,
        when: _Condition,
        *,
        handle: WorkflowHandle | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Poll ``when`` until it holds, failing fast if the current worker exits.

        ``when`` is an EventType (wait for it on ``handle``'s timeline) or a plain or
        async callable returning true once the moment has come. Raises TimeoutError
        after ``timeout`` seconds and WorkerProcessError if the worker dies first.
        """
        check = self._condition(when, handle)
        worker = self.current
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if not worker.running:
                        raise WorkerProcessError(
                            f"worker process {worker.identity} exited "
                            f"({worker.returncode}) before {_describe(when)} held"
                            f"{output_tail(worker)}"
                        )
                    if await check():
                        return
                    await asyncio.sleep(self._poll_interval)
        except TimeoutError:
            raise TimeoutError(f"{_describe(when)} did not hold within {timeout} s") from None

    @staticmethod
    def _condition(
        when: _Condition, handle: WorkflowHandle | None
    ) -> Callable[[], Awaitable[bool]]:
        from turnout.contracts.events import EventType

        if isinstance(when, EventType):
            if handle is None:
                raise TypeError(f"waiting for {when.value} needs the run's handle: handle=...")
            event_type, run = when, handle

            async def has_event() -> bool:
                return any(e.type is event_type for e in await run.events())

            return has_event
        if not callable(when):
            raise TypeError(f"when={when!r}: expected an EventType or a callable")
        predicate = when

        async def holds() -> bool:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            return bool(value)

        return holds

    async def crash(
        self,
        when: _Condition,
        *,
        handle: WorkflowHandle | None = None,
        timeout: float = 30.0,
    ) -> WorkerProcess:
        """Wait until ``when`` holds (see :meth:`wait_until`), SIGKILL the worker, start another.

        Returns the fresh worker process, ready and polling. May be called again to
        crash that one too.
        """
        await self.wait_until(when, handle=handle, timeout=timeout)
        await self.current.kill()
        return await self._start_next()

    async def result(self, handle: WorkflowHandle, *, timeout: float = 60.0) -> Any:
        """Await the run's outcome: its result, or the WorkflowFailureError it raises.

        Raises TimeoutError after ``timeout`` seconds, and WorkerProcessError if the
        current worker process exits before the run closes.
        """
        worker = self.current
        outcome = asyncio.ensure_future(handle.result(timeout=timedelta(seconds=timeout)))
        exited = asyncio.ensure_future(worker.wait())
        try:
            async with asyncio.timeout(timeout):
                await asyncio.wait({outcome, exited}, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise TimeoutError(f"workflow {handle.id} did not close within {timeout} s") from None
        finally:
            exited.cancel()
            if not outcome.done():
                outcome.cancel()
            await asyncio.gather(outcome, exited, return_exceptions=True)
        if outcome.cancelled():
            raise WorkerProcessError(
                f"worker process {worker.identity} exited ({worker.returncode}) "
                f"before workflow {handle.id} closed{output_tail(worker)}"
            )
        return outcome.result()

    async def close(self, *, graceful: bool = True) -> None:
        """Stop every worker process still running (SIGTERM, or SIGKILL if not graceful)."""
        errors: list[BaseException] = []
        for worker in reversed(self._workers):
            try:
                if graceful:
                    await worker.stop()
                else:
                    await worker.kill()
            except BaseException as exc:  # keep going: no process may be left behind
                errors.append(exc)
        if errors:
            raise errors[0]

    async def __aenter__(self) -> CrashRecovery:
        try:
            await self.start()
        except BaseException:
            await self.close(graceful=False)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close(graceful=exc is None)


def _describe(when: object) -> str:
    value = getattr(when, "value", None)
    if isinstance(value, str):
        return f"event {value!r}"
    return f"condition {getattr(when, '__qualname__', repr(when))}"


async def crash_and_recover(
    handle: WorkflowHandle,
    *,
    when: _Condition,
    database_url: str,
    task_queue: str,
    modules: Sequence[str] = (),
    workflows: Sequence[type] = (),
    activities: Sequence[Callable[..., Any]] = (),
    cwd: str | os.PathLike[str] | None = None,
    pythonpath: Sequence[str | os.PathLike[str]] = (),
    env: dict[str, str] | None = None,
    crash_timeout: float = 30.0,
    result_timeout: float = 60.0,
    **options: Any,
) -> Any:
    """Crash a worker process mid-run, recover with a fresh one, return the run's result.

    Starts a worker process for ``task_queue``, waits until ``when`` holds for the
    started run behind ``handle`` (an EventType on its timeline or a callable, see
    :meth:`CrashRecovery.wait_until`), kills that process with SIGKILL, starts a
    fresh one and awaits the result (or the WorkflowFailureError) of the run. Both
    processes are gone when it returns or raises. ``options`` go to
    :class:`CrashRecovery` (``tenant_id``, ``reaper_interval``, ``start_timeout``, ...).
    """
    async with CrashRecovery(
        database_url=database_url,
        task_queue=task_queue,
        modules=modules,
        workflows=workflows,
        activities=activities,
        cwd=cwd,
        pythonpath=pythonpath,
        env=env,
        **options,
    ) as recovery:
        await recovery.crash(when, handle=handle, timeout=crash_timeout)
        return await recovery.result(handle, timeout=result_timeout)


if __name__ == "__main__":
    sys.exit(main())
