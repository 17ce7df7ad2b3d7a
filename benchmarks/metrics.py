"""Measuring helpers: percentiles, process CPU and memory, loopback pings.

CPU and memory of other processes (worker subprocesses, the PostgreSQL and
Temporal servers) are read with psutil; the peak resident set size of a
process comes from ``VmHWM`` in ``/proc/<pid>/status`` where Linux has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "CpuMeter",
    "Pings",
    "RssSampler",
    "latency_summary",
    "peak_rss",
    "percentile",
    "rss",
]

MIB = 1024 * 1024


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) of ``values``, by linear interpolation; NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int]:
    """p50/p95/p99/max/mean latency in milliseconds, and the number of samples."""
    ms = [s * 1000 for s in seconds]
    return {
        "samples": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else math.nan,
        "mean_ms": sum(ms) / len(ms) if ms else math.nan,
    }


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def rss(pid: int) -> int | None:
    """Resident set size of ``pid`` in bytes (None when it is gone)."""
    proc = _process(pid)
    if proc is None:
        return None
    try:
        return int(proc.memory_info().rss)
    except psutil.Error:
        return None


def peak_rss(pid: int) -> int | None:
    """Peak resident set size of ``pid`` in bytes (``VmHWM``); None where unknown."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def _tree_cpu(pid: int, *, with_children: bool) -> float:
    """CPU seconds (user + system) of ``pid``; with its live descendants and the
    children it has already reaped when ``with_children`` (a server's whole tree)."""
    proc = _process(pid)
    if proc is None:
        return 0.0
    try:
        times = proc.cpu_times()
        total = float(times.user + times.system)
        if not with_children:
            return total
        total += float(times.children_user + times.children_system)
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                ctimes = child.cpu_times()
                total += float(ctimes.user + ctimes.system)
    except psutil.Error:
        return 0.0
    return total


@dataclass
class CpuMeter:
    """CPU seconds used between :meth:`start` and :meth:`stop` by this process, by
    ``workers`` (each one process) and by ``servers`` (each a process tree)."""

    workers: Sequence[int] = ()
    servers: Sequence[int] = ()
    _start: dict[str, float] = field(default_factory=dict)
    result: dict[str, float] = field(default_factory=dict)

    def _read(self) -> dict[str, float]:
        return {
            "client": time.process_time(),
            "workers": sum(_tree_cpu(pid, with_children=False) for pid in self.workers),
            "server": sum(_tree_cpu(pid, with_children=True) for pid in self.servers),
        }

    def start(self) -> None:
        """Take the starting reading."""
        self._start = self._read()

    def stop(self) -> dict[str, float]:
        """Take the final reading; return CPU seconds of ``client``, ``workers``, ``server``."""
        end = self._read()
        self.result = {key: max(0.0, end[key] - self._start.get(key, 0.0)) for key in end}
        return self.result


class RssSampler:
    """Samples the resident set size of some processes every ``interval`` seconds."""

    def __init__(self, pids: Iterable[int], interval: float = 0.1) -> None:
        self.pids = list(pids)
        self.interval = interval
        self.peak: dict[int, int] = {}
        self.readings: list[tuple[float, dict[int, int]]] = []
        """Every reading: ``time.perf_counter()`` and bytes per pid."""
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> dict[int, int]:
        """One reading now (bytes per pid); also feeds the peaks."""
        reading = {}
        for pid in self.pids:
            value = rss(pid)
            if value is not None:
                reading[pid] = value
                self.peak[pid] = max(self.peak.get(pid, 0), value)
        self.readings.append((time.perf_counter(), reading))
        return reading

    def at(self, moment: float) -> dict[int, int]:
        """The reading taken nearest to ``moment`` (a ``time.perf_counter()`` value)."""
        if not self.readings:
            return {}
        return min(self.readings, key=lambda r: abs(r[0] - moment))[1]

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Begin sampling in the background."""
        self._task = asyncio.create_task(self._loop(), name="benchmark-rss")

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class _PingProtocol(asyncio.DatagramProtocol):
    def __init__(self, pings: Pings) -> None:
        self._pings = pings

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._pings.arrived(data.decode(errors="replace"), time.perf_counter())


class Pings:
    """A UDP listener on 127.0.0.1 that timestamps the tags the ``ping`` activity sends."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[float]] = {}
        self._early: dict[str, float] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self.address = ""

    async def __aenter__(self) -> Pings:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _PingProtocol(self), local_addr=("127.0.0.1", 0)
        )
        self._transport = transport
        host, port = transport.get_extra_info("sockname")[:2]
        self.address = f"{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._transport is not None:
            self._transport.close()
        for future in self._waiting.values():
            future.cancel()

    def arrived(self, tag: str, at: float) -> None:
        """Record a tag's arrival time (perf_counter seconds)."""
        future = self._waiting.pop(tag, None)
        if future is not None and not future.done():
            future.set_result(at)
        else:
            self._early[tag] = at

    async def wait(self, tag: str, timeout: float) -> float:
        """The perf_counter time ``tag`` arrived at; waits at most ``timeout`` seconds."""
        if tag in self._early:
            return self._early.pop(tag)
        future = asyncio.get_running_loop().create_future()
        self._waiting[tag] = future
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(tag, None)
