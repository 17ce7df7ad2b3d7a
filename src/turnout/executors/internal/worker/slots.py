"""Slots: what a worker runs, what it promised to claims in flight, and what is free.

A worker claims only what its free slots allow (backpressure). A claim in flight, and
an eager claim made in the transaction of the work it belongs to, reserve their slots
first, so no other claim takes them too. The memory gate closes every slot while the
process is over ``max_memory_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Protocol

from turnout.contracts.records import QueueItemKind
from turnout.executors.internal.store import ClaimedItem, EagerClaim

__all__ = ["RunningAttempt", "Slots", "rss_bytes"]

_log = logging.getLogger("turnout.worker")


class RunningAttempt(Protocol):
    """What the worker needs of a running activity attempt's context: its item."""

    item: ClaimedItem


class Slots:
    """The slots of one worker, per kind: workflow tasks and activity attempts."""

    def __init__(
        self,
        *,
        identity: str,
        task_queue: str,
        max_workflow_tasks: int,
        max_activities: int,
        workflow_names: frozenset[str],
        activity_names: frozenset[str],
        workflow_lease: float,
        memory_limit: int | None,
    ) -> None:
        if memory_limit is not None and memory_limit <= 0:
            raise ValueError(f"max_memory_bytes must be positive, got {memory_limit}")
        self.identity = identity
        self.task_queue = task_queue
        self.max_workflow_tasks = max_workflow_tasks
        self.max_activities = max_activities
        self._workflow_names = workflow_names
        self._activity_names = activity_names
        self.workflow_lease = workflow_lease
        """Seconds a claimed workflow task is leased for, and extended by."""
        self._memory_limit = memory_limit
        self._over_memory = False
        self.workflow_tasks: dict[tuple[int, int], asyncio.Task[None]] = {}
        """The workflow tasks running, by (item id, attempt)."""
        self.workflow_items: dict[tuple[int, int], ClaimedItem] = {}
        """Their claimed items (the lease loop extends their leases)."""
        self.task_leases: dict[int, float] = {}
        """Seconds of lease of the workflow tasks whose run has its own ``task_timeout``,
        by item id (the others get ``workflow_lease``)."""
        self.leases_changed = asyncio.Event()
        """Set when a shorter lease joins ``task_leases``: the lease loop looks again."""
        self.activities: dict[int, tuple[asyncio.Task[None], RunningAttempt | None]] = {}
        """The activity attempts running, by item id, with their context once it exists."""
        self.reserved_workflow_tasks = 0
        self.reserved_activities = 0
        """Slots promised to claims in flight, so no other claim takes them too."""
        self.stopping = asyncio.Event()
        self.wake = asyncio.Event()
        """Set when a slot frees or work may be waiting: the claim loop looks again."""
        self.short = True
        """The last claim may have left work behind for want of slots (it filled every
        free slot of a kind, or a kind had none free): the claim loop woken by a freed
        slot claims at once. After a claim that drained the queue, it only looks when
        the queue's next item is due (the work that ended may have queued a timer or a
        retry); new work still comes with a notification."""

    def free_workflow_tasks(self) -> int:
        return self.max_workflow_tasks - len(self.workflow_tasks) - self.reserved_workflow_tasks

    def free_activities(self) -> int:
        return self.max_activities - len(self.activities) - self.reserved_activities

    @contextlib.contextmanager
    def reserved(self, workflow_tasks: int = 0, activities: int = 0) -> Iterator[None]:
        """Hold ``workflow_tasks`` and ``activities`` slots for a claim in flight."""
        self.reserved_workflow_tasks += max(workflow_tasks, 0)
        self.reserved_activities += max(activities, 0)
        try:
            yield
        finally:
            self.reserved_workflow_tasks -= max(workflow_tasks, 0)
            self.reserved_activities -= max(activities, 0)

    def eager(self, kind: str, wanted: int | None = None) -> EagerClaim | None:
        """An eager claim for the free slots of ``kind`` (``activity`` or ``workflow``), at
        most ``wanted`` of them (None: none free or wanted, or stopping)."""
        if self.stopping.is_set() or self.memory_gate_closed():
            return None
        if kind == "activity":
            free, names = self.free_activities(), self._activity_names
        else:
            free, names = self.free_workflow_tasks(), self._workflow_names
        limit = free if wanted is None else min(free, wanted)
        if limit <= 0 or not names:
            return None
        return EagerClaim(
            owner=self.identity,
            task_queue=self.task_queue,
            names=names,
            limit=limit,
            workflow_lease=self.workflow_lease,
        )

    def freed(self) -> None:
        """A slot is free again: the claim loop wakes (it claims at once if :attr:`short`,
        and otherwise looks when the queue's next item is due)."""
        self.wake.set()

    def in_use(self) -> dict[str, tuple[int, int]]:
        """Slots in use and slots in all, per kind (``workflow_task``, ``activity_task``)."""
        return {
            QueueItemKind.WORKFLOW_TASK.value: (
                len(self.workflow_tasks),
                self.max_workflow_tasks,
            ),
            QueueItemKind.ACTIVITY_TASK.value: (len(self.activities), self.max_activities),
        }

    def memory_gate_closed(self) -> bool:
        """True while the process uses more memory than ``max_memory_bytes``: claim nothing
        until running work has finished and memory is back under the limit."""
        if self._memory_limit is None:
            return False
        over = rss_bytes() >= self._memory_limit
        if over != self._over_memory:
            self._over_memory = over
            if over:
                _log.warning(
                    "worker %s is over its memory limit (%d bytes): it claims nothing more "
                    "until running work finishes",
                    self.identity,
                    self._memory_limit,
                )
            else:
                _log.info("worker %s is under its memory limit again", self.identity)
        return over


def rss_bytes() -> int:
    """The resident memory of this process now (Linux), or its peak elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)
