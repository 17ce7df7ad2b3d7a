"""Other systems run through the same workloads, as peers of turnout's executors.

``python -m benchmarks run --executors internal-postgres,dbos,procrastinate`` runs
DBOS Transact (:mod:`benchmarks.peers.dbos_target`) and Procrastinate
(:mod:`benchmarks.peers.procrastinate_target`) on the same kind of PostgreSQL
server as ``internal-postgres``. Nothing here is imported unless a peer is
chosen, and a peer's own package is imported only by its target and its worker
processes, so the harness and the test suite run without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.targets import Target

__all__ = ["make_peer"]


def make_peer(
    name: str, *, worker_processes: int, database_url: str | None, durable: bool
) -> Target:
    """The peer target called ``name`` (``dbos`` or ``procrastinate``)."""
    if name == "dbos":
        from benchmarks.peers.dbos_target import DbosTarget

        return DbosTarget(worker_processes, database_url=database_url, durable=durable)
    if name == "procrastinate":
        from benchmarks.peers.procrastinate_target import ProcrastinateTarget

        return ProcrastinateTarget(worker_processes, database_url=database_url, durable=durable)
    raise ValueError(f"unknown peer {name!r}")
