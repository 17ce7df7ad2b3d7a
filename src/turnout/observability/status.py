"""What ``turnout status`` shows: per task queue, depth, lag, throughput, the workers holding
leases and their slots in use; and the latest failures. Each executor's client reads them
(``OperatorClient.status``); the records live in :mod:`turnout.contracts.status`."""

from __future__ import annotations

from turnout.contracts.executor import OperatorClient
from turnout.contracts.status import FAILURE_EVENTS, QueueStatus, Snapshot

__all__ = ["FAILURE_EVENTS", "QueueStatus", "Snapshot", "snapshot"]


async def snapshot(client: OperatorClient, *, failures: int = 10) -> Snapshot | None:
    """One :class:`Snapshot` of ``client``'s tenant, or None when its executor's server
    keeps these figures instead (Temporal)."""
    return await client.status(failures=failures)
