"""A workload's session: worker subprocesses, and what is measured while they run.

:class:`Session` is what :meth:`benchmarks.targets.Target.session` hands a
workload: the client, the task queue, the worker subprocesses
(``python -m benchmarks.worker``) and the meters. Between :meth:`Session.mark_start`
and :meth:`Session.mark_end` it measures the CPU of this process, of the workers and
of the server, and the workers' memory; the target fills in the commit count when
the session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.metrics import MIB, CpuMeter, RssSampler, peak_rss

if TYPE_CHECKING:
    from benchmarks.targets import Target

__all__ = ["RunTimes", "Session", "WorkerProcess", "spawn_workers", "stop_workers"]

REPO_ROOT = Path(__file__).resolve().parent.parent
_READY_TIMEOUT = 90.0
_STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class RunTimes:
    """When one workflow run was requested and closed, and how it ended."""

    workflow_id: str
    state: str
    requested_at: datetime
    closed_at: datetime | None


@dataclass
class WorkerProcess:
    """One ``python -m benchmarks.worker`` subprocess."""

    process: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def spawn_workers(
    count: int,
    args: Sequence[str],
    log_dir: Path,
    *,
    profile: Path | None = None,
    module: str = "benchmarks.worker",
) -> list[WorkerProcess]:
    """Start ``count`` worker subprocesses (``python -m module args``) and wait until each
    says READY.

    With ``profile``, worker ``i`` writes cProfile statistics to ``{profile}-{i}.pstats``.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    workers: list[WorkerProcess] = []
    try:
        for index in range(count):
            log = log_dir / f"worker-{index}-{secrets.token_hex(3)}.log"
            extra = ["--profile", f"{profile}-{index}.pstats"] if profile is not None else []
            stderr = log.open("wb")
            try:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    module,
                    *args,
                    *extra,
                    cwd=REPO_ROOT,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=stderr,
                )
            finally:
                stderr.close()
            workers.append(WorkerProcess(process, log))
        for worker in workers:
            await _wait_ready(worker)
    except BaseException:
        await stop_workers(workers)
        raise
    return workers


async def _wait_ready(worker: WorkerProcess) -> None:
    assert worker.process.stdout is not None
    try:
        line = await asyncio.wait_for(worker.process.stdout.readline(), _READY_TIMEOUT)
    except TimeoutError:
        line = b""
    if not line.startswith(b"READY"):
        raise RuntimeError(
            f"benchmark worker {worker.pid} did not start (exit code "
            f"{worker.process.returncode}):\n{_log_tail(worker.log)}"
        )


async def stop_workers(workers: Sequence[WorkerProcess]) -> None:
    """SIGTERM every worker (graceful shutdown), SIGKILL those still running after 30 s."""
    for worker in workers:
        if worker.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                worker.process.terminate()
    for worker in workers:
        try:
            await asyncio.wait_for(worker.process.wait(), _STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()
            await worker.process.wait()


class Session:
    """One workload's run on one target: a client, worker subprocesses and meters.

    Workloads add every workflow (or signal round trip) they run, warm-up
    included, to :attr:`units_total`; commits are divided by it.
    """

    def __init__(
        self,
        target: Target,
        workload: str,
        client: Any,
        task_queue: str,
        worker_args: Sequence[str] = (),
    ) -> None:
        self.target = target
        self.workload = workload
        self.client = client
        self.task_queue = task_queue
        self.worker_args = list(worker_args)
        """The command line of a worker subprocess of this session (after the module)."""
        self.token = secrets.token_hex(4)
        self.workers: list[WorkerProcess] = []
        self.units_total = 0
        self.units = 0
        self.commits: int | None = None
        self._cpu: CpuMeter | None = None
        self._sampler: RssSampler | None = None
        self._client_sampler: RssSampler | None = None
        self._rss_start: list[int] = []
        self._rss_end: list[int] = []
        self._rss_mid: list[int] = []
        self._peaks: list[int] = []
        self._seconds = 0.0
        self._began = 0.0

    async def start_workers(self, count: int) -> None:
        """Start ``count`` more worker subprocesses on this session's task queue and wait
        until each polls."""
        profile = None
        if self.target.profile_dir is not None:
            profile = self.target.profile_dir / f"{self.target.name}-{self.workload}-worker"
        self.workers += await spawn_workers(
            count,
            self.worker_args,
            self.target.workdir,
            profile=profile,
            module=self.target.worker_module,
        )

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the worker subprocesses."""
        return [w.pid for w in self.workers]

    def mark_start(self) -> None:
        """Begin measuring CPU and memory (after warm-up)."""
        self._cpu = CpuMeter(workers=self.worker_pids, servers=self.target.server_pids())
        self._cpu.start()
        self._sampler = RssSampler(self.worker_pids)
        self._rss_start = list(self._sampler.sample().values())
        self._sampler.start()
        self._client_sampler = RssSampler([os.getpid()])
        self._client_sampler.start()
        self._began = time.perf_counter()

    async def mark_end(self, units: int) -> None:
        """Stop measuring; ``units`` is how many workflows (or round trips) were measured."""
        self._seconds = time.perf_counter() - self._began
        self.units = units
        if self._cpu is not None:
            self._cpu.stop()
        if self._sampler is not None:
            await self._sampler.stop()
            self._rss_end = list(self._sampler.sample().values())
            self._rss_mid = list(self._sampler.at(self._began + self._seconds / 2).values())
        if self._client_sampler is not None:
            await self._client_sampler.stop()
        self._peaks = [p for p in (peak_rss(pid) for pid in self.worker_pids) if p is not None]
        if not self._peaks and self._sampler is not None:
            self._peaks = list(self._sampler.peak.values())

    async def wait_closed(self, prefix: str, count: int, timeout: float) -> None:
        """Wait until the runs ``prefix + str(i)`` for ``i < count`` are all closed."""
        await self.target.wait_closed(self, prefix, count, timeout)

    async def run_times(self, prefix: str, expected: int) -> list[RunTimes]:
        """Requested/closed times of the runs whose workflow id starts with ``prefix``."""
        return await self.target.run_times(self, prefix, expected)

    def stats(self) -> dict[str, Any]:
        """CPU, memory and commit figures of the measured part (call after the session)."""
        out: dict[str, Any] = {
            "worker_processes": len(self.workers),
            "worker_exit_codes": [w.process.returncode for w in self.workers],
            "measured_seconds": self._seconds,
        }
        if self._cpu is not None and self._cpu.result:
            cpu = self._cpu.result
            own = cpu["client"] + cpu["workers"]
            out["cpu_client_s"] = cpu["client"]
            out["cpu_workers_s"] = cpu["workers"]
            out["cpu_s_per_1k"] = own / self.units * 1000 if self.units else None
            if self.target.server_pids():
                out["cpu_server_s"] = cpu["server"]
                per_1k = cpu["server"] / self.units * 1000 if self.units else None
                out["server_cpu_s_per_1k"] = per_1k
        if self._rss_start:
            out["worker_rss_start_mib"] = sum(self._rss_start) / len(self._rss_start) / MIB
        if self._rss_end:
            out["worker_rss_end_mib"] = sum(self._rss_end) / len(self._rss_end) / MIB
        if self._rss_mid:
            out["worker_rss_mid_mib"] = sum(self._rss_mid) / len(self._rss_mid) / MIB
        if self._peaks:
            out["worker_peak_rss_mib"] = max(self._peaks) / MIB
        if self._client_sampler is not None and self._client_sampler.peak:
            out["client_peak_rss_mib"] = max(self._client_sampler.peak.values()) / MIB
        if self.commits is not None:
            out["commits"] = self.commits
            out["units_total"] = self.units_total
            out["commits_per_unit"] = self.commits / self.units_total if self.units_total else None
        return out
