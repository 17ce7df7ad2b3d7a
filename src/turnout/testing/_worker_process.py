"""A turnout worker (internal executor) in a child process, started, killed and stopped
from the test: :class:`WorkerProcess`."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from turnout.testing._worker_child import DEFAULT_REAPER_INTERVAL, READY

__all__ = ["WorkerProcess", "WorkerProcessError", "output_tail", "worker_targets"]

_OUTPUT_LINES = 200

# The parent runs the entry point with -c, not -m: turnout.testing imports its module,
# so runpy would warn that it runs a second copy of it as __main__.
_CHILD_CODE = (
    "import sys\nfrom turnout.testing._worker_child import main\nsys.exit(main(sys.argv[1:]))\n"
)


class WorkerProcessError(RuntimeError):
    """A worker process failed to start or exited when it should have been running.

    The message ends with the last lines the process wrote, which usually say why.
    """


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


def worker_targets(
    modules: Sequence[str], workflows: Sequence[type], activities: Sequence[Callable[..., Any]]
) -> list[str]:
    """The ``--module`` targets of a worker process: module paths and ``module:qualname``."""
    if isinstance(modules, str):
        raise TypeError("modules must be a list of module paths, not a string")
    targets = [*modules, *map(_import_path, workflows), *map(_import_path, activities)]
    if not targets:
        raise ValueError("give the worker something to run: modules, workflows or activities")
    return targets


def output_tail(worker: WorkerProcess) -> str:
    """``; its last output:`` and the lines the worker process wrote, for an error message."""
    text = worker.output().rstrip()
    return f"; its last output:\n{text}" if text else ""


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
        reaper_interval: timedelta = DEFAULT_REAPER_INTERVAL,
        python: str | None = None,
    ) -> None:
        self.identity = identity or f"worker-process-{uuid.uuid4().hex[:8]}"
        """The worker identity, as the timeline's ``worker`` attributes show it."""
        self.task_queue = task_queue
        """The task queue the worker polls."""
        self._targets = worker_targets(modules, workflows, activities)
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
                f"worker process {self.identity} was not ready within {timeout} s"
                f"{output_tail(self)}"
            ) from None
        if not ready:
            await self.kill()
            raise WorkerProcessError(
                f"worker process {self.identity} exited ({self.returncode}) before it was ready"
                f"{output_tail(self)}"
            )

    async def _read(self, stream: asyncio.StreamReader, *, ready: bool) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace")
            self._output.append(text)
            if (
                ready
                and self._ready is not None
                and not self._ready.done()
                and text.split(maxsplit=1)[:1] == [READY]
            ):
                self._ready.set_result(True)
        if ready and self._ready is not None and not self._ready.done():
            self._ready.set_result(False)

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
