"""The internal worker: lifecycle, the claim loop, dispatch, leases and the reaper.

A worker claims only what its free slots allow (backpressure), wakes on
notifications (LISTEN/NOTIFY or in-process) with polling as the fallback, and
runs a reaper for expired leases and timeouts. Leaving it stops claiming, lets
running activities finish within the grace period, and releases the rest.

What it runs is the work of its collaborators: :class:`~.slots.Slots` (what is
running and free), :class:`~.workflow_tasks.WorkflowTaskRunner`,
:class:`~.activities.ActivityRunner`, :class:`~.admission.Admission` (policies) and
the :class:`~turnout.executors.internal.reaper.Reaper`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from turnout.contracts.governance import Policy
from turnout.contracts.records import QueueItemKind
from turnout.contracts.shared_state import SharedStateManager, check_activity_executor
from turnout.contracts.worker_interceptors import worker_interceptors
from turnout.executors.internal.client import InternalClient
from turnout.executors.internal.codethread import CodeThread, positive_seconds
from turnout.executors.internal.interception import inbound_classes
from turnout.executors.internal.migrate import check_database
from turnout.executors.internal.reaper import Reaper
from turnout.executors.internal.store import ClaimedItem, ClaimParams, FireTimersParams, Store
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.maintenance import PRUNE_BATCH
from turnout.executors.internal.store.notify import queue_channel
from turnout.executors.internal.store.sql import use_clock
from turnout.executors.internal.worker.activities import ActivityRunner
from turnout.executors.internal.worker.admission import Admission
from turnout.executors.internal.worker.local_activities import LocalActivities
from turnout.executors.internal.worker.presence import Presence
from turnout.executors.internal.worker.process_pool import ProcessPool
from turnout.executors.internal.worker.queries import QUERY_SWEEP_GRACE, QueryRunner
from turnout.executors.internal.worker.slots import Slots
from turnout.executors.internal.worker.workflow_tasks import WorkflowTaskRunner
from turnout.observability._hooks import Observer, guarded
from turnout.workflows._definitions import ActivityDefinition, WorkflowDefinition
from turnout.workflows._dynamic import by_name

__all__ = ["InternalWorker"]

_log = logging.getLogger("turnout.worker")


class InternalWorker:
    """Runs workflows and activities of one task queue on the internal store."""

    def __init__(
        self,
        client: InternalClient,
        *,
        task_queue: str,
        workflows: Sequence[type] = (),
        activities: Sequence[Callable[..., Any]] = (),
        max_concurrent_activities: int = 100,
        max_concurrent_workflow_tasks: int = 50,
        activity_executor: concurrent.futures.Executor | None = None,
        shared_state_manager: SharedStateManager | None = None,
        max_cached_workflows: int = 1000,
        graceful_shutdown_timeout: timedelta = timedelta(seconds=10),
        workflow_task_lease: timedelta = timedelta(seconds=30),
        poll_interval: timedelta | None = None,
        reaper_interval: timedelta = timedelta(seconds=1),
        finished_item_retention: timedelta | None = timedelta(hours=1),
        identity: str | None = None,
        policies: Sequence[Policy] = (),
        max_memory_bytes: int | None = None,
        observer: Observer | None = None,
        deadlock_timeout: timedelta = timedelta(seconds=2),
        debug_mode: bool = False,
        workflow_failure_exception_types: Sequence[type[BaseException]] = (),
        interceptors: Sequence[object] = (),
    ) -> None:
        if not workflows and not activities:
            raise ValueError("a Worker needs at least one workflow or activity")
        self._client = client
        self._store: Store = client.store
        self.task_queue = task_queue
        workflow_defns = by_name(map(WorkflowDefinition.must_from_class, workflows), "workflow")
        client.register_workflows(workflows)
        activity_defns = by_name(map(ActivityDefinition.for_worker, activities), "activity")
        self._own_executor = activity_executor is None and any(
            not a.is_async for a in activity_defns.values()
        )
        self._executor = activity_executor or (
            concurrent.futures.ThreadPoolExecutor(
                max_workers=max(1, min(max_concurrent_activities, 64)),
                thread_name_prefix="turnout-activity",
            )
            if self._own_executor
            else None
        )
        sync = {d.name: d.fn for d in activity_defns.values() if not d.is_async}
        check_activity_executor(activity_executor, shared_state_manager, sync)
        pool = ProcessPool.serving(activity_executor, shared_state_manager)
        if finished_item_retention is not None and finished_item_retention < timedelta(0):
            raise ValueError(
                f"finished_item_retention must not be negative, got {finished_item_retention}"
            )
        self._retention = finished_item_retention
        self._grace = graceful_shutdown_timeout.total_seconds()
        self._wft_lease = workflow_task_lease.total_seconds()
        self._poll_given = poll_interval.total_seconds() if poll_interval else None
        self._poll = self._poll_interval()
        self._reaper_interval = reaper_interval.total_seconds()
        # The identity owns this worker's leases and names it on the timeline: an explicit
        # one must be unique per process (the default is host:pid:random).
        self.identity = identity or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._observer = guarded(observer)
        """Told of claims, tasks and outcomes (log context; metrics and traces if set)."""
        self._slots = Slots(
            identity=self.identity,
            task_queue=task_queue,
            max_workflow_tasks=max_concurrent_workflow_tasks if workflows else 0,
            max_activities=max_concurrent_activities if activities else 0,
            workflow_names=frozenset(workflow_defns),
            activity_names=frozenset(activity_defns),
            workflow_lease=self._wft_lease,
            memory_limit=max_memory_bytes,
        )
        self._presence = Presence(
            self._store,
            client.tenant_id,
            identity=self.identity,
            task_queue=task_queue,
            workflow_types=list(workflow_defns),
            activity_types=list(activity_defns),
            max_workflow_tasks=max_concurrent_workflow_tasks if workflows else 0,
            max_activities=max_concurrent_activities if activities else 0,
        )
        admission = Admission(self._store, policies)
        # Workflow code runs off this loop, watched: code that never yields fails its
        # task instead of freezing claims, leases and health (debug_mode: never a deadlock,
        # for stepping through workflow code in a debugger).
        code = CodeThread(
            timeout=None if debug_mode else positive_seconds("deadlock_timeout", deadlock_timeout)
        )
        self._workflow_tasks = WorkflowTaskRunner(
            store=self._store,
            slots=self._slots,
            workflows=workflow_defns,
            activity_names=frozenset(activity_defns),
            admission=admission,
            observer=self._observer,
            code=code,
            cache_size=max_cached_workflows,
            max_payload_bytes=client.max_payload_bytes,
            failure_types=tuple(workflow_failure_exception_types),
            dispatch=self._dispatch,
            local_activities=LocalActivities(
                store=self._store,
                activities=activity_defns,
                executor=self._executor,
                client=client,
                pool=pool,
            ),
        )
        # Query requests of the queue, answered with the same cache and code thread.
        self._queries = (
            QueryRunner(
                store=self._store,
                cache=self._workflow_tasks.cache,
                code=code,
                workflows=workflow_defns,
                task_queue=task_queue,
                identity=self.identity,
                tenant_id=client.tenant_id,
                poll_interval=self._poll,
                failure_types=tuple(workflow_failure_exception_types),
            )
            if workflow_defns
            else None
        )
        self._activities = ActivityRunner(
            store=self._store,
            slots=self._slots,
            activities=activity_defns,
            admission=admission,
            observer=self._observer,
            executor=self._executor,
            max_payload_bytes=client.max_payload_bytes,
            dispatch=self._dispatch,
            client=client,
            pool=pool,
            seen=self._workflow_tasks.cache.seen,
        )
        # The client's worker interceptors, then the worker's own (outermost first).
        chain = worker_interceptors([*client.interceptors, *interceptors])
        self._activities.interceptors = chain
        self._workflow_tasks.local_activities.interceptors = chain
        self._workflow_tasks.inbound_classes = inbound_classes(chain)
        if self._queries is not None:
            self._queries.inbound_classes = self._workflow_tasks.inbound_classes
        self._reaper = Reaper(self._store, self._observer)
        self._timers_busy = False
        self._due: datetime | None = None
        """When the earliest queued item was due at the last look (None: none queued)."""
        self._stopped = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._started = False

    # -- what observers read -------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The store this worker claims from."""
        return self._store

    @property
    def tenant_id(self) -> str:
        """The tenant whose work this worker claims."""
        return self._client.tenant_id

    @property
    def claiming(self) -> bool:
        """True while the claim loop runs (started, not stopping)."""
        return bool(self._loops and not self._slots.stopping.is_set() and not self._loops[0].done())

    def slots(self) -> dict[str, tuple[int, int]]:
        """Slots in use and slots in all, per kind (``workflow_task``, ``activity_task``)."""
        return self._slots.in_use()

    async def check_database(self, timeout: float) -> dict[str, str]:
        """Readiness: the database answers within ``timeout`` seconds, at the schema
        revision this turnout expects (health reads this)."""
        return await check_database(self._store, timeout)

    def deadlocks(self) -> tuple[int, str | None]:
        """How many activations of workflow code did not yield since this worker started,
        and the last one's message (health shows both)."""
        return self._workflow_tasks.deadlocks()

    def code_health(self) -> str:
        """``ok``, or why the threads that run workflow code are not (health reads this)."""
        return self._workflow_tasks.code_health()

    def _poll_interval(self) -> float:
        """Seconds an idle worker waits before it looks again: the given interval, else
        1 s when other processes' commits wake it, 50 ms when nothing does."""
        if self._poll_given is not None:
            return self._poll_given
        return 1.0 if self._store.supports_listen_notify else 0.05

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Start claiming work."""
        if self._started:
            raise RuntimeError("worker already started")
        self._started = True
        clock = getattr(self._client, "clock", None)
        if clock is not None:  # a time-skipping test environment's client: its time rules
            use_clock(clock)
        await self._store.start_listening()
        self._poll = self._poll_interval()  # listening may have changed it
        if self._queries is not None:
            self._queries.poll_interval = self._poll
        await self._presence.join()
        self._loops = [
            asyncio.create_task(self._poll_loop(), name="turnout-poll"),
            asyncio.create_task(self._reaper_loop(), name="turnout-reaper"),
            asyncio.create_task(self._lease_loop(), name="turnout-leases"),
        ]
        if self._queries is not None:
            self._loops.append(asyncio.create_task(self._queries.serve(), name="turnout-queries"))
        self._observer.attach(self)

    async def shutdown(self) -> None:
        """Stop claiming; let activities finish within the grace period; release the rest."""
        if not self._started or self._stopped.is_set():
            return
        slots = self._slots
        slots.stopping.set()
        slots.wake.set()
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Workflow tasks are short: let them finish. Activities get the grace period.
        if slots.workflow_tasks:
            await asyncio.wait(list(slots.workflow_tasks.values()), timeout=self._wft_lease)
        running = [t for t, _ in slots.activities.values()]
        if running:
            await asyncio.wait(running, timeout=self._grace)
        await self._activities.results.drain(self._grace)
        leftovers = [
            ctx.item for t, ctx in slots.activities.values() if not t.done() and ctx is not None
        ]
        leftovers += [
            slots.workflow_items[i] for i, t in slots.workflow_tasks.items() if not t.done()
        ]
        tasks = [*slots.workflow_tasks.values(), *(t for t, _ in slots.activities.values())]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        # A commit already being written when its task was cancelled finishes first.
        await self._workflow_tasks.commits.drain(self._wft_lease)
        if leftovers:
            with contextlib.suppress(Exception):
                await self._store.release(leftovers)
        with contextlib.suppress(Exception):
            await self._store.unstick(self.identity)
        self._workflow_tasks.close()
        await self._presence.leave()
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._observer.detach(self)
        self._stopped.set()

    async def run(self) -> None:
        """Start, then block until shut down or cancelled."""
        await self.start()
        try:
            await self._stopped.wait()
        finally:
            await self.shutdown()

    async def __aenter__(self) -> InternalWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    # -- claiming ------------------------------------------------------------------------
    def _dispatch(self, item: ClaimedItem) -> None:
        """Start a claimed item on the runner of its kind."""
        if item.kind == QueueItemKind.WORKFLOW_TASK.value:
            self._workflow_tasks.start(item)
        else:
            self._activities.start(item)

    async def _poll_loop(self) -> None:
        backoff = 0.1
        claim_now = True  # the first pass claims at once
        slots = self._slots
        wake = slots.wake
        with self._store.notifier.subscribe(queue_channel(self.task_queue)) as notified:
            while not self._slots.stopping.is_set():
                # Cleared before looking, not after: a notification that arrives while
                # this pass reads or claims is still there when it waits.
                notified.clear()
                wake.clear()
                try:
                    # Timers are due by the clock: look for them when the last look found
                    # something due by now (a timer queued since, due at once, shows in
                    # the look below, and the next pass fires it).
                    timers = self._timers_busy or (self._due is not None and self._due <= utcnow())
                    if claim_now and await self._poll_once(timers):
                        await asyncio.sleep(0)  # more may be waiting
                        continue
                    # Idle: one read tells when anything of the queue is due.
                    due = await self._store.next_due(self.task_queue, self._client.tenant_id)
                    self._due = due
                    backoff = 0.1
                    if not timers and due is not None and due <= utcnow():
                        claim_now = True  # due now and not looked at: a timer, maybe
                        continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    _log.warning("claim failed (%s); retrying in %.1fs", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                timeout, claim_next = self._poll, False
                if due is not None:
                    remaining = (due - utcnow()).total_seconds()
                    if remaining <= 0 and not claim_now:
                        claim_now = True  # due since the last look: claim it
                        continue
                    # Due but just not claimed (its run's task is running, or no free slot):
                    # claim again after a notification or the poll interval, never spin.
                    if remaining <= timeout:
                        timeout, claim_next = max(remaining, 0.0) or timeout, True
                waiters = [
                    asyncio.ensure_future(notified.wait()),
                    asyncio.ensure_future(wake.wait()),
                ]
                try:
                    await asyncio.wait(
                        waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    for w in waiters:
                        w.cancel()
                # Told of new work, a slot free while work may wait, or something due:
                # claim, without a read first. Otherwise look when the next item is due.
                claim_now = notified.is_set() or claim_next or (wake.is_set() and slots.short)

    async def _poll_once(self, timers: bool = True) -> bool:
        """Fire due timers (with ``timers``) and claim work for the free slots. True when
        more may be waiting (a claim filled every free slot, or timers fired); False when
        the queue is drained, and the loop may wait for a notification."""
        fired = 0
        if timers:
            # Read before writing unless the last pass fired some.
            fired = await self._store.fire_timers(
                FireTimersParams(
                    self.task_queue, tenant_id=self._client.tenant_id, peek=not self._timers_busy
                )
            )
        self._timers_busy = fired > 0
        if self._slots.memory_gate_closed():
            self._slots.short = True  # work may wait for the memory to come back
            return bool(fired)
        return await self._claim() or bool(fired)

    async def _claim(self) -> bool:
        """Claim work for the free slots and start it. True when it filled every free slot
        of a kind (more may be waiting); notes in ``slots.short`` whether work may have
        been left behind for want of slots."""
        free_wft = self._slots.free_workflow_tasks()
        free_act = self._slots.free_activities()
        # The slots asked for are promised while the claim runs: an eager claim made
        # meanwhile (a commit, a result) must not take them too.
        with self._slots.reserved(workflow_tasks=free_wft, activities=free_act):
            items = await self._store.claim(
                ClaimParams(
                    self.task_queue,
                    self.identity,
                    workflow_tasks=free_wft,
                    activities=free_act,
                    workflow_lease=self._wft_lease,
                    tenant_id=self._client.tenant_id,
                    peek=False,
                    seen=self._workflow_tasks.cache.seen,
                )
            )
        for item in items:
            self._dispatch(item)
        wfts = sum(1 for item in items if item.kind == QueueItemKind.WORKFLOW_TASK.value)
        filled = (wfts >= free_wft > 0) or (len(items) - wfts >= free_act > 0)
        slots = self._slots
        slots.short = (
            filled
            or free_wft <= 0 < slots.max_workflow_tasks
            or free_act <= 0 < slots.max_activities
        )
        return filled

    # -- upkeep --------------------------------------------------------------------------
    async def _lease_loop(self) -> None:
        while True:
            # A third of the shortest lease held: a run's own task_timeout may be shorter.
            leases = self._slots.task_leases
            interval = max(min([self._wft_lease, *leases.values()]) / 3, 0.05)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slots.leases_changed.wait(), interval)
            self._slots.leases_changed.clear()
            by_length: dict[float, list[int]] = {}
            for item_id, _ in self._slots.workflow_items:
                by_length.setdefault(leases.get(item_id, self._wft_lease), []).append(item_id)
            with contextlib.suppress(Exception):
                for seconds, item_ids in by_length.items():
                    until = utcnow() + timedelta(seconds=seconds)
                    await self._store.extend_leases(self.identity, item_ids, until)

    async def _reaper_loop(self) -> None:
        next_prune = time.monotonic()
        while True:
            await asyncio.sleep(self._reaper_interval)
            # The heartbeat must never hold up the reaper (lease expiry, timeouts, schedules).
            await self._presence.beat()
            try:
                if await self._reaper.pass_once():
                    self._slots.wake.set()
                if time.monotonic() >= next_prune:
                    # Keep the tables small: query requests whose caller went away, and
                    # (with a retention) finished items. Once a minute, or at once again
                    # while a full batch of items went.
                    await self._store.prune_queries(utcnow() - QUERY_SWEEP_GRACE)
                    pruned = 0
                    if self._retention is not None:
                        pruned = await self._store.prune_finished(utcnow() - self._retention)
                    next_prune = time.monotonic() + (0 if pruned >= PRUNE_BATCH else 60)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("reaper pass failed: %s", exc)
