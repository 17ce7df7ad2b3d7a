"""How long this machine takes to wake an idle process: the figure that bounds every
latency measured after a quiet gap (idle pick-up, a signal to a waiting run).

Two processes echo one byte over a pipe. Sent back to back, the echo costs what the
operating system's scheduler does when both are running; sent after ``gap`` seconds of
both sleeping, it also costs waking the processor each one sleeps on. On a virtual
machine whose host is busy, that second figure can be tens of times the first, and it
counts once for each process a request crosses after a quiet gap.

The probe also times touching memory the process has not touched during the gap, one
byte per 4 KiB page of a buffer (``page_idle_us``, against ``page_busy_us`` when the
buffer was touched just before). Where the host reclaims or tracks an idle guest's
memory, every page a request touches after a gap costs that much again: in the client,
the worker and the database server alike.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

__all__ = ["probe"]

_PAGE = 4096
_PAGES = 2048
"""The buffer touched: 8 MiB, as many pages as a request's path may touch in a process."""

_ECHO = (
    "import sys\nwhile b := sys.stdin.buffer.read(1):\n    sys.stdout.buffer.write(b)\n"
    "    sys.stdout.buffer.flush()\n"
)


def probe(samples: int = 9, gap: float = 0.3) -> dict[str, Any]:
    """The echo's p50 in milliseconds, back to back (``busy_ms``) and after ``gap``
    seconds of idleness (``idle_ms``); the p50 cost of touching a page, in microseconds,
    just after touching it (``page_busy_us``) and after the gap (``page_idle_us``)."""
    child = subprocess.Popen(
        [sys.executable, "-c", _ECHO], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdin is not None
    assert child.stdout is not None
    stdin, stdout = child.stdin, child.stdout

    def echo() -> float:
        clock = time.perf_counter()
        stdin.write(b"x")
        stdin.flush()
        stdout.read(1)
        return (time.perf_counter() - clock) * 1000

    buffer = bytearray(_PAGE * _PAGES)

    def touch() -> float:
        """Microseconds per page to touch every page of the buffer once."""
        clock = time.perf_counter()
        for i in range(0, len(buffer), _PAGE):
            buffer[i] ^= 1
        return (time.perf_counter() - clock) * 1e6 / _PAGES

    try:
        echo()  # the child is up
        busy = [echo() for _ in range(200)]
        touch()  # the pages exist
        page_busy = [touch() for _ in range(samples)]
        idle, page_idle = [], []
        for _ in range(samples):
            time.sleep(gap)
            idle.append(echo())
            page_idle.append(touch())
    finally:
        stdin.close()
        child.wait(timeout=10)
    return {
        "gap_s": gap,
        "busy_ms": round(statistics.median(busy), 3),
        "idle_ms": round(statistics.median(idle), 3),
        "page_busy_us": round(statistics.median(page_busy), 3),
        "page_idle_us": round(statistics.median(page_idle), 3),
    }
