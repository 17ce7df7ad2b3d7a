"""The internal worker, split along its seams.

- :mod:`.loop`: :class:`InternalWorker`: lifecycle, the claim loop, dispatch, leases and
  the reaper's schedule;
- :mod:`.slots`: what runs, what is reserved for claims in flight, the memory gate;
- :mod:`.workflow_tasks`: load, decide (the workflow code), commit; the instance cache;
- :mod:`.activities`: an attempt's runner, its context, heartbeats and timeouts;
- :mod:`.admission`: the worker's policies;
- :mod:`.outcomes`: recording outcomes through a short database outage.
"""

from turnout.executors.internal.worker.loop import InternalWorker
from turnout.executors.internal.worker.slots import rss_bytes
from turnout.executors.internal.worker.workflow_tasks import DEADLOCK_ATTEMPTS

__all__ = ["DEADLOCK_ATTEMPTS", "InternalWorker", "rss_bytes"]
