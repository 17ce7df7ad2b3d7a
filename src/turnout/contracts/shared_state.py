"""``SharedStateManager``: what lets sync activities run in a process pool.

A sync activity given to a worker whose ``activity_executor`` is not a thread pool (a
``concurrent.futures.ProcessPoolExecutor``) runs in another process: its heartbeats and
its cancellation cross the process boundary through a ``multiprocessing`` manager, as
they do in temporalio::

    Worker(client, task_queue="q", activities=[crunch],
           activity_executor=ProcessPoolExecutor(4),
           shared_state_manager=SharedStateManager.create_from_multiprocessing(
               multiprocessing.Manager()))

Each executor builds its own channels from the manager; :func:`check_activity_executor`
is the check both run when a worker is made.
"""

from __future__ import annotations

import concurrent.futures
import pickle
import threading
from collections.abc import Callable, Mapping
from multiprocessing.managers import SyncManager
from typing import Any

from turnout.contracts.errors import ConfigurationError

__all__ = ["SharedStateManager", "check_activity_executor", "is_process_pool"]


class SharedStateManager:
    """Cross-process state for sync activities in a process pool: heartbeats reach the
    worker and cancellation reaches the activity through ``manager`` (one manager may
    serve several workers). Make it with :meth:`create_from_multiprocessing`."""

    def __init__(
        self,
        manager: SyncManager,
        queue_poller_executor: concurrent.futures.Executor | None = None,
    ) -> None:
        self.manager = manager
        """The ``multiprocessing`` manager whose queues and events cross the boundary."""
        self.queue_poller_executor = queue_poller_executor
        """Where the worker reads the heartbeats queue (None: a thread of its own)."""

    @staticmethod
    def create_from_multiprocessing(
        mgr: SyncManager,
        queue_poller_executor: concurrent.futures.Executor | None = None,
    ) -> SharedStateManager:
        """A shared state manager on ``mgr`` (usually ``multiprocessing.Manager()``);
        ``queue_poller_executor``, a thread pool, reads the heartbeats queue if given."""
        return SharedStateManager(mgr, queue_poller_executor)

    def new_event(self) -> threading.Event:
        """An event that can be set and read from any process."""
        return self.manager.Event()


def is_process_pool(executor: concurrent.futures.Executor | None) -> bool:
    """True when sync activities given to ``executor`` run outside this process (any
    executor but a thread pool, as temporalio decides)."""
    return executor is not None and not isinstance(executor, concurrent.futures.ThreadPoolExecutor)


def check_activity_executor(
    executor: concurrent.futures.Executor | None,
    shared_state_manager: SharedStateManager | None,
    sync_activities: Mapping[str, Callable[..., Any]],
) -> None:
    """Refuse, when the worker is made, a process pool that its sync activities
    (``sync_activities``, by name) cannot run in: without a ``shared_state_manager``,
    or with an activity that cannot be pickled."""
    if not sync_activities or not is_process_pool(executor):
        return
    first = sorted(sync_activities)[0]
    if shared_state_manager is None:
        raise ConfigurationError(
            f"activity {first} is sync and activity_executor is not a thread pool: pass "
            "shared_state_manager=SharedStateManager.create_from_multiprocessing("
            "multiprocessing.Manager()) to the Worker, or use a ThreadPoolExecutor"
        )
    if not isinstance(shared_state_manager, SharedStateManager):
        raise ConfigurationError(
            f"shared_state_manager must be a turnout.worker.SharedStateManager, got "
            f"{type(shared_state_manager).__name__}: make it with "
            "SharedStateManager.create_from_multiprocessing(multiprocessing.Manager())"
        )
    if isinstance(executor, concurrent.futures.ProcessPoolExecutor):
        for name, fn in sorted(sync_activities.items()):
            try:
                pickle.dumps(fn)
            except Exception as exc:
                raise ConfigurationError(
                    f"activity {name} must be picklable to run in a process pool "
                    f"({type(exc).__name__}: {exc}): define it at module level, or as a "
                    "method of a picklable instance"
                ) from exc
