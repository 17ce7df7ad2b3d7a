"""The sticky cache: the workflow instances a worker keeps between workflow tasks, so
that the next task of a run goes on from memory instead of replaying its history."""

from __future__ import annotations

from collections import OrderedDict

from turnout.executors.internal.engine import WorkflowInstance

__all__ = ["InstanceCache"]


class InstanceCache:
    """A bounded LRU of live workflow instances (sticky execution)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, WorkflowInstance] = OrderedDict()

    @property
    def size(self) -> int:
        """How many instances it keeps (0: none, no sticky execution)."""
        return self._size

    def seen(self, run_id: str) -> int:
        """The last seq the run's cached instance has seen (0: none cached)."""
        instance = self._items.get(run_id)
        return instance.seen_seq if instance is not None else 0

    def take(self, run_id: str) -> WorkflowInstance | None:
        """Remove and return the instance: one workflow task at a time may advance it."""
        return self._items.pop(run_id, None)

    def put(self, run_id: str, instance: WorkflowInstance) -> None:
        replaced = self._items.get(run_id)
        if replaced is not None and replaced is not instance:
            replaced.dispose()
        self._items[run_id] = instance
        self._items.move_to_end(run_id)
        while len(self._items) > self._size:
            _, old = self._items.popitem(last=False)
            old.dispose()

    def give_back(self, run_id: str, instance: WorkflowInstance) -> None:
        """Return an instance taken only to read it (a query): kept, unless a workflow task
        put the run's next instance meanwhile."""
        if run_id in self._items:
            instance.dispose()
        else:
            self.put(run_id, instance)

    def evict(self, run_id: str) -> None:
        instance = self._items.pop(run_id, None)
        if instance is not None:
            instance.dispose()

    def clear(self) -> None:
        for run_id in list(self._items):
            self.evict(run_id)

    def __len__(self) -> int:
        return len(self._items)
