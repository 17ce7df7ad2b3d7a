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

import argparse
import asyncio
import collections
import contextlib
import inspect
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    from turnout.contracts.events import EventType
    from turnout.contracts.executor import WorkflowHandle

    _Condition: TypeAlias = EventType | Callable[[], bool | Awaitable[bool]]

from turnout._discovery import Definitions, load_definitions

__all__ = [
    "CrashRecovery",
    "Definitions",
    "WorkerProcess",
    "WorkerProcessError",
    "crash_and_recover",
    "load_definitions",
    "main",
]

_READY = "ready"
_DEFAULT_REAPER_INTERVAL = timedelta(milliseconds=200)
_OUTPUT_LINES = 200

# The parent runs the entry point with -c, not -m: turnout.testing imports this module,
# so runpy would warn that it runs a second copy of it as __main__.
_CHILD_CODE = (
    "import sys\nfrom turnout.testing.recovery import main\nsys.exit(main(sys.argv[1:]))\n"
)


class WorkerProcessError(RuntimeError):
    """A worker process failed to start or exited when it should have been running.

    The message ends with the last lines the process wrote, which usually say why.
    """


# --------------------------------------------------------------------------- loading


def _import_path(obj: Any) -> str:
    """``module:qualname`` of a module-level class or function, for the child process."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<locals>" in qualname:
        raise ValueError(
            f"{obj!r} cannot be imported by a worker process: define it at module level "
            "of an importable module, or pass the module path in modules=[...]"
        )
    return f"{module}:{qualname}"


def _targets(
    modules: Sequence[str], workflows: Sequence[type], activities: Sequence[Callable[..., Any]]
) -> list[str]:
    if isinstance(modules, str):
        raise TypeError("modules must be a list of module paths, not a string")
    targets = [*modules, *map(_import_path, workflows), *map(_import_path, activities)]
    if not targets:
        raise ValueError("give the worker something to run: modules, workflows or activities")
    return targets


# --------------------------------------------------------------------------- the child


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the worker process: ``python -m turnout.testing.recovery``.

    Returns the process exit status: 0 after a clean stop, 2 when the arguments
    or the modules are wrong.
    """
    parser = argparse.ArgumentParser(
        prog="python -m turnout.testing.recovery",
        description="Run a turnout worker (internal executor) until SIGTERM or SIGINT.",
    )
    parser.add_argument(
        "--database-url", help="database to work on (default: TURNOUT_DATABASE_URL)"
    )
    parser.add_argument("--task-queue", required=True, help="task queue to poll")
    parser.add_argument(
        "--module",
        dest="modules",
        action="append",
        required=True,
        metavar="MODULE[:ATTR]",
        help="where to find workflows and activities (repeatable)",
    )
    parser.add_argument("--identity", help="worker identity recorded on the timeline")
    parser.add_argument("--tenant-id", help="tenant the worker acts for")
    parser.add_argument(
        "--reaper-interval",
        type=float,
        default=_DEFAULT_REAPER_INTERVAL.total_seconds(),
        metavar="SECONDS",
        help="how often expired leases and timeouts are looked for (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        found = load_definitions(args.modules)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        print(f"error: cannot load {args.modules}: {exc!r}", file=sys.stderr)
        return 2
    if found.ambiguous:
        print(
            f"note: not registered, defined more than once: {', '.join(found.ambiguous)}; "
            "name the one to run as module:attr",
            file=sys.stderr,
        )
    if not found.workflows and not found.activities:
        print(f"error: no workflows or activities found in {args.modules}", file=sys.stderr)
        return 2
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(
        _serve(
            database_url=args.database_url,
            task_queue=args.task_queue,
            found=found,
            identity=args.identity,
            tenant_id=args.tenant_id,
            reaper_interval=timedelta(seconds=args.reaper_interval),
        )
    )
    return 0


async def _serve(
    *,
    database_url: str | None,
    task_queue: str,
    found: Definitions,
    identity: str | None,
    tenant_id: str | None,
    reaper_interval: timedelta,
) -> None:
    import socket

    import turnout

    identity = identity or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await turnout.connect(
        executor="internal", database_url=database_url, tenant_id=tenant_id
    )
    try:
        async with turnout.Worker(
            client,
            task_queue=task_queue,
            workflows=found.workflows,
            activities=found.activities,
            identity=identity,
            reaper_interval=reaper_interval,
        ):
            print(f"{_READY} {identity}", flush=True)
            await stop.wait()
    finally:
        await client.close()


# --------------------------------------------------------------------------- the parent


class WorkerProcess:
    """A turnout worker (internal executor) running in a child process.

    ``await start()`` launches it and returns once it polls for work;
    :meth:`kill` ends it with SIGKILL (a crash: nothing is released), :meth:`stop`
    with SIGTERM (a graceful shutdown), then SIGKILL if it does not exit in time.
    Usable as ``async with WorkerProcess(...) as worker:``, which stops it on exit.

    ``modules`` are module paths or ``module:attr`` strings; ``workflows`` and
    ``activities`` are objects defined at module level of importable modules.
    The child runs in ``cwd`` (default: the current directory, which is on its
    import path) with ``pythonpath`` prepended to ``PYTHONPATH`` and ``env``
    added to the inherited environment; the database URL reaches it through
    ``TURNOUT_DATABASE_URL``, not its command line.
    """

    def __init__(
        self,
        *,
        database_url: str,
        task_queue: str,
        modules: Sequence[str] = (),
        workflows: Sequence[type] = (),
        activities: Sequence[Callable[..., Any]] = (),
        identity: str | None = None,
        tenant_id: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        pythonpath: Sequence[str | os.PathLike[str]] = (),
        env: dict[str, str] | None = None,
        reaper_interval: timedelta = _DEFAULT_REAPER_INTERVAL,
        python: str | None = None,
    ) -> None:
        self.identity = identity or f"worker-process-{uuid.uuid4().hex[:8]}"
        """The worker identity, as the timeline's ``worker`` attributes show it."""
        self.task_queue = task_queue
        """The task queue the worker polls."""
        self._targets = _targets(modules, workflows, activities)
        self._database_url = database_url
        self._tenant_id = tenant_id
        self._cwd = cwd
        self._pythonpath = [os.fspath(p) for p in pythonpath]
        self._env = dict(env or {})
        self._reaper_interval = reaper_interval
        self._python = python or sys.executable
        self._proc: asyncio.subprocess.Process | None = None
        self._output: collections.deque[str] = collections.deque(maxlen=_OUTPUT_LINES)
        self._ready: asyncio.Future[bool] | None = None
        self._readers: list[asyncio.Task[None]] = []

    def __repr__(self) -> str:
        return f"<WorkerProcess {self.identity} pid={self.pid} returncode={self.returncode}>"

    @property
    def pid(self) -> int | None:
        """The child's process id, or None before :meth:`start`."""
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """None while running; the exit status after (``-9`` after :meth:`kill`)."""
        return self._proc.returncode if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the child has been started and has not exited."""
        return self._proc is not None and self._proc.returncode is None

    def output(self) -> str:
        """The last lines the child wrote to stdout and stderr."""
        return "".join(self._output)

    def _command(self) -> list[str]:
        command = [self._python, "-c", _CHILD_CODE, "--task-queue", self.task_queue]
        for target in self._targets:
            command += ["--module", target]
        command += ["--identity", self.identity]
        command += ["--reaper-interval", str(self._reaper_interval.total_seconds())]
        if self._tenant_id:
            command += ["--tenant-id", self._tenant_id]
        return command

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, **self._env, "TURNOUT_DATABASE_URL": self._database_url}
        paths = [*self._pythonpath]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        if paths:
            env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    async def start(self, *, timeout: float = 30.0) -> None:
        """Launch the child and wait until it polls for work.

        Raises WorkerProcessError when it exits first or is not ready within
        ``timeout`` seconds (it is killed then).
        """
        if self._proc is not None:
            raise RuntimeError(f"{self!r} was already started")
        self._ready = asyncio.get_running_loop().create_future()
        self._proc = await asyncio.create_subprocess_exec(
            *self._command(),
            cwd=None if self._cwd is None else Path(self._cwd),
            env=self._environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        assert self._proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self._proc.stdout, ready=True)),
            asyncio.create_task(self._read(self._proc.stderr, ready=False)),
        ]
        try:
            async with asyncio.timeout(timeout):
                ready = await self._ready
        except BaseException as exc:
            await self.kill()
            if not isinstance(exc, TimeoutError):
                raise
            raise WorkerProcessError(
                f"worker process {self.identity} was not ready within {timeout} s{self._tail()}"
            ) from None
        if not ready:
            await self.kill()
            raise WorkerProcessError(
                f"worker process {self.identity} exited ({self.returncode}) before it was ready"
                f"{self._tail()}"
            )

    async def _read(self, stream: asyncio.StreamReader, *, ready: bool) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace")
            self._output.append(text)
            if (
                ready
                and self._ready is not None
                and not self._ready.done()
                and text.split(maxsplit=1)[:1] == [_READY]
            ):
                self._ready.set_result(True)
        if ready and self._ready is not None and not self._ready.done():
            self._ready.set_result(False)

    def _tail(self) -> str:
        text = self.output().rstrip()
        return f"; its last output:\n{text}" if text else ""

    async def wait(self) -> int:
        """Wait until the child exits (with no time bound) and return its status."""
        if self._proc is None:
            raise RuntimeError(f"{self!r} was not started")
        return await self._proc.wait()

    async def kill(self, *, timeout: float = 30.0) -> None:
        """End the child with SIGKILL, as a crash would, and reap it."""
        if self._proc is None:
            return
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        await self._reap(timeout)

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Stop the child with SIGTERM (a graceful shutdown); SIGKILL after ``timeout`` s."""
        if self._proc is None:
            return
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.terminate()
            try:
                async with asyncio.timeout(timeout):
                    await self._proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
        await self._reap(timeout)

    async def _reap(self, timeout: float) -> None:
        assert self._proc is not None
        try:
            async with asyncio.timeout(timeout):
                await self._proc.wait()
                await asyncio.gather(*self._readers, return_exceptions=True)
        except TimeoutError:  # a grandchild holds the pipes open: stop reading them
            for reader in self._readers:
                reader.cancel()
            await asyncio.gather(*self._readers, return_exceptions=True)

    async def __aenter__(self) -> WorkerProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.stop()
        else:
            await self.kill()


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
        reaper_interval: timedelta = _DEFAULT_REAPER_INTERVAL,
        python: str | None = None,
        start_timeout: float = 30.0,
        poll_interval: float = 0.05,
    ) -> None:
        _targets(modules, workflows, activities)  # fail here, not in a child process
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
                            f"{worker._tail()}"
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
                f"before workflow {handle.id} closed{worker._tail()}"
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
