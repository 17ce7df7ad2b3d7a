"""How long this machine takes to wake an idle process: the figure that bounds every
latency measured after a quiet gap (idle pick-up, a signal to a waiting run).

Two processes echo one byte over a pipe. Sent back to back, the echo costs what the
operating system's scheduler does when both are running; sent after ``gap`` seconds of
both sleeping, it also costs waking the processor each one sleeps on. On a virtual
machine whose host is busy, that second figure can be tens of times the first, and it
counts once for each process a request crosses after a quiet gap.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

__all__ = ["probe"]

_ECHO = (
    "import sys\nwhile b := sys.stdin.buffer.read(1):\n    sys.stdout.buffer.write(b)\n"
    "    sys.stdout.buffer.flush()\n"
)


def probe(samples: int = 9, gap: float = 0.3) -> dict[str, Any]:
    """The echo's p50 in milliseconds, back to back (``busy_ms``) and after ``gap``
    seconds of idleness (``idle_ms``)."""
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

    try:
        echo()  # the child is up
        busy = [echo() for _ in range(200)]
        idle = []
        for _ in range(samples):
            time.sleep(gap)
            idle.append(echo())
    finally:
        stdin.close()
        child.wait(timeout=10)
    return {
        "gap_s": gap,
        "busy_ms": round(statistics.median(busy), 3),
        "idle_ms": round(statistics.median(idle), 3),
    }
