"""``WorkerOptions``: the keyword options of ``turnout.Worker``, typed.

``Worker(client, task_queue=..., workflows=..., activities=..., **options)`` takes these;
a type checker catches a misspelt or mistyped option where the worker is made, and at
run time an option the executor does not know raises a ConfigurationError naming it.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypedDict

from turnout.contracts.governance import Policy
from turnout.contracts.shared_state import SharedStateManager

__all__ = ["WorkerOptions"]


class WorkerOptions(TypedDict, total=False):
    """The options of a worker (all optional; docs/operations.md has each default)."""

    # -- both executors
    max_concurrent_activities: int
    """Activity attempts running at once (100)."""
    max_concurrent_workflow_tasks: int
    """Workflow tasks running at once (50)."""
    activity_executor: concurrent.futures.Executor | None
    """Where sync activities run (a thread pool made when one is registered); a process
    pool needs ``shared_state_manager``."""
    shared_state_manager: SharedStateManager | None
    """Carries heartbeats and cancellation across a process-pool ``activity_executor``."""
    max_cached_workflows: int
    """Live workflow instances kept between tasks (1000)."""
    graceful_shutdown_timeout: timedelta
    """How long running activities may finish at shutdown (10 s)."""
    identity: str | None
    """The worker's name in leases and events (host:pid:random)."""
    policies: Sequence[Policy]
    """Consulted before each run starts and each activity runs."""
    observer: Any
    """A ``turnout.observability.Observer`` (metrics, traces, your own hooks)."""
    debug_mode: bool
    """Turn off the deadlock watchdog, for a debugger (False)."""
    workflow_failure_exception_types: Sequence[type[BaseException]]
    """Exceptions that fail a workflow (not only its task) when its code raises them, for
    every workflow of the worker (with each workflow's own ``failure_exception_types``)."""
    interceptors: Sequence[Any]
    """``turnout.worker.Interceptor`` objects, after those of the client (outermost first)."""
    # -- the internal executor only (the Temporal worker refuses them by name)
    workflow_task_lease: timedelta
    """The lease of a workflow task (30 s)."""
    poll_interval: timedelta | None
    """The longest wait between two looks at the queue (1 s on PostgreSQL, 50 ms on SQLite)."""
    reaper_interval: timedelta
    """How often the reaper runs (1 s)."""
    finished_item_retention: timedelta | None
    """How long finished queue items stay before they are pruned (1 hour; None: kept)."""
    max_memory_bytes: int | None
    """Claim nothing while the process's resident memory is above this."""
    deadlock_timeout: timedelta
    """How long workflow code may run without yielding (2 s)."""
