"""The internal worker: claim loop, concurrency slots, workflow tasks, activities, heartbeats.

A worker claims only what its free slots allow (backpressure), wakes on
notifications (LISTEN/NOTIFY or in-process) with polling as the fallback, and
runs a reaper for expired leases and timeouts. Leaving it stops claiming, lets
running activities finish within the grace period, and releases the rest.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
import os
import socket
import sys
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from turnout.contracts.errors import (
    ApplicationError,
    Failure,
    PayloadTooLargeError,
    TimeoutType,
    failure_from_exception,
)
from turnout.contracts.events import Event
from turnout.contracts.governance import (
    APPROVAL_REQUIRED,
    POLICY_DENIED,
    START_GATE,
    Policy,
    PolicyRequest,
    consult,
    decision_on,
)
from turnout.contracts.records import Artifact, DecisionOutcome, PolicyDecision, QueueItemKind
from turnout.contracts.retry import RetryPolicy
from turnout.contracts.states import TERMINAL_STATES
from turnout.executors.internal import codec
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.batch import GroupCommit
from turnout.executors.internal.client import InternalClient, workflow_info
from turnout.executors.internal.codethread import CodeThread, DeadlockError, positive_seconds
from turnout.executors.internal.engine import WorkflowInstance, WorkflowTaskError
from turnout.executors.internal.reaper import Reaper, apply_retry_policy, timeout_failure
from turnout.executors.internal.store import (
    ClaimedItem,
    EagerClaim,
    RunSnapshot,
    StaleTaskError,
    Store,
    UnhandledSignalError,
)
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.core import UNREACHABLE, refused_value, unstorable
from turnout.executors.internal.store.maintenance import PRUNE_BATCH
from turnout.executors.internal.store.notify import queue_channel
from turnout.executors.internal.store.workflow_tasks import (
    WorkflowTaskCommit,
    runnable_activities,
)
from turnout.observability._hooks import Observer, guarded
from turnout.workflows._definitions import ActivityDefinition, WorkflowDefinition
from turnout.workflows._runtime import (
    ActivityInfo,
    ArtifactSpec,
    reset_activity_runtime,
    set_activity_runtime,
)

__all__ = ["InternalWorker"]

_log = logging.getLogger("turnout.worker")
_OUTCOME_RETRY_SECONDS = 60.0
DEADLOCK_ATTEMPTS = 5
"""Workflow tasks in a row whose code did not yield before the task is dead-lettered."""


class _Cache:
    """A bounded LRU of live workflow instances (sticky execution)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, WorkflowInstance] = OrderedDict()

    def get(self, run_id: str) -> WorkflowInstance | None:
        instance = self._items.get(run_id)
        if instance is not None:
            self._items.move_to_end(run_id)
        return instance

    def take(self, run_id: str) -> WorkflowInstance | None:
        """Remove and return the instance: one workflow task at a time may advance it."""
        return self._items.pop(run_id, None)

    def put(self, run_id: str, instance: WorkflowInstance) -> None:
        self._items[run_id] = instance
        self._items.move_to_end(run_id)
        while len(self._items) > self._size:
            _, old = self._items.popitem(last=False)
            old.dispose()

    def evict(self, run_id: str) -> None:
        instance = self._items.pop(run_id, None)
        if instance is not None:
            instance.dispose()

    def clear(self) -> None:
        for run_id in list(self._items):
            self.evict(run_id)

    def __len__(self) -> int:
        return len(self._items)


class _AttemptTimedOut(Exception):
    """An activity attempt ran past one of its timeouts."""

    def __init__(self, kind: TimeoutType) -> None:
        super().__init__(kind.value)
        self.kind = kind


class _ActivityContext:
    """The ActivityRuntime of one running activity attempt."""

    def __init__(self, worker: InternalWorker, item: ClaimedItem, info: ActivityInfo) -> None:
        self._worker = worker
        self.item = item
        self._info = info
        self.details: list[Any] | None = None
        self.cancelled = False
        self.pending = asyncio.Event()
        self.task: asyncio.Future[Any] | None = None
        self.loop = asyncio.get_running_loop()
        self.last_beat = time.monotonic()
        p = item.payload
        now = utcnow()
        started = time.monotonic()
        self._deadlines: list[tuple[TimeoutType, float]] = []
        if p.get("start_to_close_timeout"):
            self._deadlines.append(
                (TimeoutType.START_TO_CLOSE, started + float(p["start_to_close_timeout"]))
            )
        if item.deadline_at is not None:
            left = (item.deadline_at - now).total_seconds()
            self._deadlines.append((TimeoutType.SCHEDULE_TO_CLOSE, started + left))
        self._heartbeat_timeout = (
            float(p["heartbeat_timeout"]) if p.get("heartbeat_timeout") else None
        )

    def next_deadline(self) -> tuple[TimeoutType | None, float]:
        """The nearest timeout of this attempt and the seconds left until it (1 h if none)."""
        deadlines = list(self._deadlines)
        if self._heartbeat_timeout is not None:
            deadlines.append((TimeoutType.HEARTBEAT, self.last_beat + self._heartbeat_timeout))
        if not deadlines:
            return None, 3600.0
        kind, at = min(deadlines, key=lambda d: d[1])
        return kind, at - time.monotonic()

    def info(self) -> ActivityInfo:
        return self._info

    def heartbeat(self, *details: Any) -> None:
        self.details = codec.encode_args(details)
        self.last_beat = time.monotonic()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.pending.set()
        else:  # a sync activity in a worker thread
            self.loop.call_soon_threadsafe(self.pending.set)

    def is_cancelled(self) -> bool:
        return self.cancelled

    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        from turnout.workflows.activity import logger

        return logger

    async def record_artifact(self, spec: ArtifactSpec) -> Artifact:
        artifact = Artifact(
            artifact_id=uuid.uuid4().hex,
            run_id=self.item.run_id,
            workflow_id=self.item.workflow_id,
            tenant_id=self.item.tenant_id,
            name=spec.name,
            uri=spec.uri,
            media_type=spec.media_type,
            size_bytes=spec.size,
            digest=spec.digest,
            created_at=utcnow(),
            attributes={**spec.attributes, "activity_type": self._info.activity_type},
        )
        if not await self._worker._store.record_artifact(self.item, artifact):
            _log.warning(
                "artifact %s of run %s not recorded: the run is closed", spec.name, self.item.run_id
            )
        return artifact


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
    ) -> None:
        if not workflows and not activities:
            raise ValueError("a Worker needs at least one workflow or activity")
        self._client = client
        self._store: Store = client.store
        self.task_queue = task_queue
        self._workflows: dict[str, WorkflowDefinition] = {}
        for cls in workflows:
            defn = WorkflowDefinition.must_from_class(cls)
            self._workflows[defn.name] = defn
        client.register_workflows(workflows)
        self._activities: dict[str, ActivityDefinition] = {}
        for fn in activities:
            adefn = ActivityDefinition.must_from_callable(fn)
            self._activities[adefn.name] = adefn
        self._max_activities = max_concurrent_activities if activities else 0
        self._max_wfts = max_concurrent_workflow_tasks if workflows else 0
        self._own_executor = activity_executor is None and any(
            not a.is_async for a in self._activities.values()
        )
        self._executor = activity_executor or (
            concurrent.futures.ThreadPoolExecutor(
                max_workers=max(1, min(max_concurrent_activities, 64)),
                thread_name_prefix="turnout-activity",
            )
            if self._own_executor
            else None
        )
        self._policies = list(policies)
        if max_memory_bytes is not None and max_memory_bytes <= 0:
            raise ValueError(f"max_memory_bytes must be positive, got {max_memory_bytes}")
        self._memory_limit = max_memory_bytes
        self._over_memory = False
        self._cache = _Cache(max_cached_workflows)
        # Workflow code runs off this loop, watched: code that never yields fails its
        # task instead of freezing claims, leases and health (debug_mode: never a deadlock,
        # for stepping through workflow code in a debugger).
        self._code = CodeThread(
            timeout=None if debug_mode else positive_seconds("deadlock_timeout", deadlock_timeout)
        )
        # A batch that fails for one bad item is written again item by item (shared=...):
        # only that item's caller hears the error.
        self._results: GroupCommit[tuple[ClaimedItem, Any], bool] = GroupCommit(
            self._record_results, name="turnout-results", shared=UNREACHABLE
        )
        # Workflow tasks running at once read their histories together, and commit
        # together: a few statements for all of them.
        self._reads: GroupCommit[tuple[str, int], tuple[RunSnapshot, list[Event]]] = GroupCommit(
            lambda wanted: self._store.load_histories(wanted),
            name="turnout-history-reads",
            shared=UNREACHABLE,
        )
        self._commits: GroupCommit[WorkflowTaskCommit, range] = GroupCommit(
            lambda commits: self._store.commit_workflow_tasks(commits),
            name="turnout-workflow-task-commits",
        )
        self._grace = graceful_shutdown_timeout.total_seconds()
        self._wft_lease = workflow_task_lease.total_seconds()
        # Without LISTEN/NOTIFY (SQLite), an idle worker looks (one read) every 50 ms.
        default_poll = 1.0 if self._store.supports_listen_notify else 0.05
        self._poll = poll_interval.total_seconds() if poll_interval else default_poll
        self._reaper_interval = reaper_interval.total_seconds()
        if finished_item_retention is not None and finished_item_retention < timedelta(0):
            raise ValueError(
                f"finished_item_retention must not be negative, got {finished_item_retention}"
            )
        self._retention = finished_item_retention
        # The identity owns this worker's leases and names it on the timeline: an explicit
        # one must be unique per process (the default is host:pid:random).
        self.identity = identity or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wfts: dict[tuple[int, int], asyncio.Task[None]] = {}
        self._timers_busy = False
        self._reserved_wfts = 0
        self._reserved_acts = 0
        """Slots promised to claims in flight (the poll loop's, and eager claims made in the
        transaction of the work they belong to), so no other claim takes them too."""
        self._acts: dict[int, tuple[asyncio.Task[None], _ActivityContext | None]] = {}
        self._wft_items: dict[tuple[int, int], ClaimedItem] = {}
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._started = False
        self._observer = guarded(observer)
        """Told of claims, tasks and outcomes (log context; metrics and traces if set)."""
        self._reaper = Reaper(self._store, self._observer)

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
        return bool(self._loops and not self._stopping.is_set() and not self._loops[0].done())

    def slots(self) -> dict[str, tuple[int, int]]:
        """Slots in use and slots in all, per kind (``workflow_task``, ``activity_task``)."""
        return {
            QueueItemKind.WORKFLOW_TASK.value: (len(self._wfts), self._max_wfts),
            QueueItemKind.ACTIVITY_TASK.value: (len(self._acts), self._max_activities),
        }

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Start claiming work."""
        if self._started:
            raise RuntimeError("worker already started")
        self._started = True
        if self._store.supports_listen_notify:
            await self._store.start_listening()
        self._loops = [
            asyncio.create_task(self._poll_loop(), name="turnout-poll"),
            asyncio.create_task(self._reaper_loop(), name="turnout-reaper"),
            asyncio.create_task(self._lease_loop(), name="turnout-leases"),
        ]
        self._observer.attach(self)

    async def shutdown(self) -> None:
        """Stop claiming; let activities finish within the grace period; release the rest."""
        if not self._started or self._stopped.is_set():
            return
        self._stopping.set()
        self._wake.set()
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Workflow tasks are short: let them finish. Activities get the grace period.
        if self._wfts:
            await asyncio.wait(list(self._wfts.values()), timeout=self._wft_lease)
        running = [t for t, _ in self._acts.values()]
        if running:
            await asyncio.wait(running, timeout=self._grace)
        await self._results.drain(self._grace)
        leftovers = [ctx.item for t, ctx in self._acts.values() if not t.done() and ctx is not None]
        leftovers += [self._wft_items[i] for i, t in self._wfts.items() if not t.done()]
        for task in [*self._wfts.values(), *(t for t, _ in self._acts.values())]:
            task.cancel()
        for task in [*self._wfts.values(), *(t for t, _ in self._acts.values())]:
            with contextlib.suppress(BaseException):
                await task
        # A commit already being written when its task was cancelled finishes first.
        await self._commits.drain(self._wft_lease)
        if leftovers:
            with contextlib.suppress(Exception):
                await self._store.release(leftovers)
        self._cache.clear()
        self._code.close()
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
    async def _poll_loop(self) -> None:
        backoff = 0.1
        claim_now = True  # the first pass claims at once
        with self._store.notifier.subscribe(queue_channel(self.task_queue)) as notified:
            while not self._stopping.is_set():
                # Cleared before looking, not after: a notification that arrives while
                # this pass reads or claims is still there when it waits.
                notified.clear()
                self._wake.clear()
                try:
                    if claim_now and await self._poll_once():
                        await asyncio.sleep(0)  # more may be waiting
                        continue
                    # Idle: one read tells when anything of the queue is due.
                    due = await self._store.next_due(self.task_queue, self._client.tenant_id)
                    backoff = 0.1
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
                    asyncio.ensure_future(self._wake.wait()),
                ]
                try:
                    await asyncio.wait(
                        waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    for w in waiters:
                        w.cancel()
                # Told of new work, a slot free, or something due: claim, without a read
                # first. Otherwise look again.
                claim_now = notified.is_set() or self._wake.is_set() or claim_next

    def _memory_gate_closed(self) -> bool:
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

    async def _poll_once(self) -> bool:
        """Fire due timers and claim work for the free slots. True when more may be
        waiting (a claim filled every free slot, or timers fired); False when the queue
        is drained, and the loop may wait for a notification."""
        # Timers are due by the clock, not by notifications: read before writing unless
        # the last pass fired some.
        fired = await self._store.fire_timers(
            self.task_queue, tenant_id=self._client.tenant_id, peek=not self._timers_busy
        )
        self._timers_busy = fired > 0
        if self._memory_gate_closed():
            return bool(fired)
        return await self._claim() or bool(fired)

    async def _claim(self) -> bool:
        """Claim work for the free slots and start it. True when it filled every free slot
        of a kind (more may be waiting)."""
        free_wft = self._max_wfts - len(self._wfts) - self._reserved_wfts
        free_act = self._max_activities - len(self._acts) - self._reserved_acts
        # The slots asked for are promised while the claim runs: an eager claim made
        # meanwhile (a commit, a result) must not take them too.
        self._reserved_wfts += max(free_wft, 0)
        self._reserved_acts += max(free_act, 0)
        try:
            items = await self._store.claim(
                self.task_queue,
                self.identity,
                workflow_tasks=free_wft,
                activities=free_act,
                workflow_lease=self._wft_lease,
                tenant_id=self._client.tenant_id,
                peek=False,
            )
        finally:
            self._reserved_wfts -= max(free_wft, 0)
            self._reserved_acts -= max(free_act, 0)
        for item in items:
            if item.kind == QueueItemKind.WORKFLOW_TASK.value:
                self._start_workflow_task(item)
            else:
                self._start_activity(item)
        wfts = sum(1 for item in items if item.kind == QueueItemKind.WORKFLOW_TASK.value)
        return (wfts >= free_wft > 0) or (len(items) - wfts >= free_act > 0)

    def _start_workflow_task(self, item: ClaimedItem) -> None:
        self._observer.claimed(item)
        key = (item.id, item.attempt)
        self._wft_items[key] = item
        self._wfts[key] = asyncio.create_task(self._workflow_task(item))

    def _eager(self, kind: str, wanted: int | None = None) -> EagerClaim | None:
        """An eager claim for the free slots of ``kind``, at most ``wanted`` of them
        (None: none free or wanted, or stopping)."""
        if self._stopping.is_set() or self._memory_gate_closed():
            return None
        if kind == "activity":
            free = self._max_activities - len(self._acts) - self._reserved_acts
            names = frozenset(self._activities)
        else:
            free = self._max_wfts - len(self._wfts) - self._reserved_wfts
            names = frozenset(self._workflows)
        limit = free if wanted is None else min(free, wanted)
        if limit <= 0 or not names:
            return None
        return EagerClaim(
            owner=self.identity,
            task_queue=self.task_queue,
            names=names,
            limit=limit,
            workflow_lease=self._wft_lease,
        )

    def _slot_freed(self) -> None:
        self._wake.set()

    # -- workflow tasks ------------------------------------------------------------------
    async def _workflow_task(self, item: ClaimedItem) -> None:
        crash: BaseException | None = None
        try:
            self._observer.workflow_task_began(item)
            await self._process_workflow_task(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            crash = exc
            _log.exception("workflow task %s of run %s crashed", item.id, item.run_id)
            self._cache.evict(item.run_id)
        finally:
            self._wfts.pop((item.id, item.attempt), None)
            self._wft_items.pop((item.id, item.attempt), None)
            self._slot_freed()
            self._observer.workflow_task_ended(crash)

    async def _process_workflow_task(self, item: ClaimedItem) -> None:
        defn = self._workflows.get(item.name or "")
        if defn is None:
            await self._store.fail_workflow_task(
                item,
                Failure(
                    kind="application",
                    message=(
                        f"workflow type {item.name!r} is not registered on worker {self.identity} "
                        f"(task queue {self.task_queue}); registered: {sorted(self._workflows)}"
                    ),
                    type="NotRegistered",
                ),
                retry_in=_wft_backoff(item.attempt),
            )
            return
        instance = self._cache.take(item.run_id)
        try:
            instance = await self._advance_and_commit(item, defn, instance)
        except BaseException:
            if instance is not None:
                instance.dispose()
            raise
        if instance is not None:
            if instance.closed:
                instance.dispose()
            else:
                self._cache.put(item.run_id, instance)

    async def _advance_and_commit(
        self, item: ClaimedItem, defn: WorkflowDefinition, instance: WorkflowInstance | None
    ) -> WorkflowInstance | None:
        """Run one workflow task; the instance to keep cached, or None to drop it."""
        row, history = await self._reads.submit(
            (item.run_id, instance.seen_seq if instance is not None else 0)
        )
        if row.state in _TERMINAL:
            await self._store.abandon_workflow_task(item)
            _dropped(instance)
            return None
        if instance is not None and instance.task_count != row.workflow_task_count:
            instance.dispose()
            instance = None
            row, history = await self._reads.submit((item.run_id, 0))
        if instance is None:
            instance = WorkflowInstance(defn, workflow_info(row), list(row.input))
        self._observer.workflow_task_loaded(workflow_info(row))
        decisions: list[PolicyDecision] = []
        admission: list[cmd.Command] | None = None
        if self._policies and row.workflow_task_count == 0:
            try:
                decision, admission = await self._admit(row, instance)
            except Exception as exc:  # a policy that raises: redo the task later
                await self._store.fail_workflow_task(
                    item, failure_from_exception(exc), retry_in=_wft_backoff(item.attempt)
                )
                _dropped(instance)
                return None
            decisions.append(decision)
        try:
            if admission is not None:  # denied: the workflow code never runs
                commands = admission
                instance.processed_through = max((e.seq for e in history), default=0)
                instance.dispose()
            else:
                running = instance
                commands = await self._code.run(
                    lambda: running.advance(history, utcnow()),
                    progress=lambda: running.activated_at,
                    after_abandon=running.dispose,
                )
            if decisions and decisions[0].outcome is DecisionOutcome.REQUIRE_APPROVAL:
                commands = [*commands, _start_gate(decisions[0])]
            commands = self._observer.scheduling(commands)
            oversize = _oversize(commands, self._client.max_payload_bytes)
            if oversize is not None:
                # The run cannot go on without storing this payload: it fails, saying why.
                _log.warning("%s %s: %s", row.workflow_type, row.workflow_id, oversize)
                commands = [cmd.FailWorkflow(failure_from_exception(oversize, with_stack=False))]
                instance.dispose()
        except DeadlockError as exc:
            await self._deadlocked(item, row.workflow_type, row.workflow_id, exc)
            return None  # the instance is disposed by the code thread it froze
        except WorkflowTaskError as exc:
            cause = exc.__cause__ or exc
            self._observer.workflow_task_failed(cause)
            _log.warning(
                "workflow task of %s %s failed: %r", row.workflow_type, row.workflow_id, cause
            )
            await self._store.fail_workflow_task(
                item, failure_from_exception(cause), retry_in=_wft_backoff(item.attempt)
            )
            _dropped(instance)
            return None
        try:
            # Slots for the activities this task schedules, no more: other tasks
            # committing at the same time reserve theirs.
            eager = self._eager(
                "activity",
                wanted=len(runnable_activities(commands, self.task_queue, self._activities)),
            )
            self._reserved_acts += eager.limit if eager else 0
            try:
                seqs = await self._persist(
                    f"workflow task of {row.workflow_id}",
                    lambda: self._commits.submit(
                        WorkflowTaskCommit(
                            item,
                            expected_task_count=row.workflow_task_count,
                            processed_through=instance.processed_through,
                            time=instance.now_value,
                            commands=commands,
                            decisions=decisions,
                            eager=eager,
                            seen_through=instance.seen_seq,
                            run=row,
                        )
                    ),
                )
            finally:
                self._reserved_acts -= eager.limit if eager else 0
            for claimed in eager.claimed if eager else ():
                self._start_activity(claimed)
        except StaleTaskError as exc:
            _log.info("%s", exc)
            # If the run closed meanwhile (terminated, timed out), end the task now rather
            # than at lease expiry; if the lease was lost, the guard makes this a no-op.
            await self._store.abandon_workflow_task(item)
            _dropped(instance)
            return None
        except UnhandledSignalError as exc:
            await self._store.fail_workflow_task(
                item,
                Failure(kind="application", message=str(exc), type="UnhandledSignal"),
                retry_in=0.0,
            )
            _dropped(instance)
            return None
        except Exception as exc:
            if not unstorable(exc):
                # The commit failed for another reason (a database error, a child id taken
                # by a concurrent start): record it and retry the task instead of waiting
                # for the lease to expire.
                _log.warning("commit of workflow task %s failed: %r", item.id, exc)
                await self._retry_workflow_task(item, exc)
                _dropped(instance)
                return None
            # The database refused a value the commands carry: retrying cannot fix it. The
            # run fails, saying why (as it does for a payload over the limit).
            error = refused_value(f"a command of workflow task {item.id}", exc)
            _log.warning("%s %s: %s", row.workflow_type, row.workflow_id, error)
            _dropped(instance)
            with contextlib.suppress(Exception):
                await self._commits.submit(
                    WorkflowTaskCommit(
                        item,
                        expected_task_count=row.workflow_task_count,
                        processed_through=instance.processed_through,
                        time=instance.now_value,
                        commands=[
                            cmd.FailWorkflow(failure_from_exception(error, with_stack=False))
                        ],
                        decisions=decisions,
                        eager=None,
                        seen_through=instance.seen_seq,
                        run=row,
                    )
                )
                return None
            await self._retry_workflow_task(item, error)
            return None
        instance.committed(seqs)
        self._observer.workflow_task_committed(commands)
        return instance

    async def _retry_workflow_task(self, item: ClaimedItem, exc: BaseException) -> None:
        """Record a workflow task's failure and queue it again after a backoff."""
        with contextlib.suppress(Exception):
            await self._store.fail_workflow_task(
                item, failure_from_exception(exc), retry_in=_wft_backoff(item.attempt)
            )

    async def _deadlocked(
        self, item: ClaimedItem, workflow_type: str, workflow_id: str, exc: DeadlockError
    ) -> None:
        """Fail a workflow task whose code did not yield: retried with backoff, and after
        ``DEADLOCK_ATTEMPTS`` in a row dead-lettered for an operator (the run stays open)."""
        self._observer.workflow_task_failed(exc)
        dead = item.attempt >= DEADLOCK_ATTEMPTS
        _log.error(
            "workflow task of %s %s (attempt %d) failed: %s%s",
            workflow_type,
            workflow_id,
            item.attempt,
            exc,
            "; dead-lettered: fix the code, deploy, then signal, cancel or terminate the run"
            if dead
            else "",
        )
        await self._store.fail_workflow_task(
            item,
            Failure(kind="application", message=str(exc), type="DeadlockError"),
            retry_in=_wft_backoff(item.attempt),
            dead=dead,
        )

    def deadlocks(self) -> tuple[int, str | None]:
        """How many activations of workflow code did not yield since this worker started,
        and the last one's message (health shows both)."""
        return self._code.deadlocks, self._code.last_deadlock

    def code_health(self) -> str:
        """``ok``, or why the threads that run workflow code are not (health reads this)."""
        stuck = self._code.stuck
        if not stuck:
            return "ok"
        return (
            f"{stuck} thread(s) still run workflow code that did not yield "
            f"({self._code.last_deadlock}); restart the worker to reclaim them"
        )

    async def _lease_loop(self) -> None:
        interval = max(self._wft_lease / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await self._store.extend_leases(
                    self.identity,
                    [item_id for item_id, _ in self._wft_items],
                    utcnow() + timedelta(seconds=self._wft_lease),
                )

    async def _reaper_loop(self) -> None:
        next_prune = time.monotonic()
        while True:
            await asyncio.sleep(self._reaper_interval)
            try:
                if await self._reaper.pass_once():
                    self._wake.set()
                if self._retention is not None and time.monotonic() >= next_prune:
                    # Keep the queue table small: finished items go after the retention.
                    # Once a minute, or at once again while a full batch went.
                    pruned = await self._store.prune_finished(utcnow() - self._retention)
                    next_prune = time.monotonic() + (0 if pruned >= PRUNE_BATCH else 60)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("reaper pass failed: %s", exc)

    # -- activities ----------------------------------------------------------------------
    def _start_activity(self, item: ClaimedItem) -> None:
        self._observer.claimed(item)
        task = asyncio.create_task(self._activity(item))
        self._acts[item.id] = (task, None)

    async def _activity(self, item: ClaimedItem) -> None:
        crash: BaseException | None = None
        try:
            self._observer.activity_began(item)
            await self._run_activity(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            crash = exc
            _log.exception(
                "activity %s of run %s: could not record its outcome", item.name, item.run_id
            )
        finally:
            self._acts.pop(item.id, None)
            self._slot_freed()
            self._observer.activity_ended(crash)

    async def _run_activity(self, item: ClaimedItem) -> None:
        p = item.payload
        try:
            policy = RetryPolicy.model_validate(p.get("retry_policy") or {})
            for key in ("start_to_close_timeout", "schedule_to_close_timeout", "heartbeat_timeout"):
                _td(p.get(key))
        except (ValueError, OverflowError, TypeError) as exc:
            # Options stored before they were checked (an older release): no attempt can
            # run under them, so the activity fails for good, saying why.
            unreadable = ApplicationError(
                f"the stored options of activity {item.name} cannot be used: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
                type="InvalidOptions",
                non_retryable=True,
            )
            await self._fail(
                item, failure_from_exception(unreadable, with_stack=False), RetryPolicy()
            )
            return
        defn = self._activities.get(item.name or "")
        if defn is None:
            failure = Failure(
                kind="application",
                message=(
                    f"activity {item.name!r} is not registered on worker {self.identity} "
                    f"(task queue {self.task_queue}); registered: {sorted(self._activities)}"
                ),
                type="NotRegistered",
            )
            await self._fail(item, failure, policy)
            return
        info = ActivityInfo(
            activity_id=str(p.get("activity_id")),
            activity_type=defn.name,
            attempt=item.attempt,
            workflow_id=item.workflow_id,
            workflow_run_id=item.run_id,
            workflow_type=str(p.get("workflow_type", "")),
            task_queue=item.task_queue,
            scheduled_time=datetime.fromisoformat(p["scheduled_at"])
            if p.get("scheduled_at")
            else item.created_at,
            started_time=item.started_at,
            heartbeat_details=list(item.heartbeat_details or []),
            start_to_close_timeout=_td(p.get("start_to_close_timeout")),
            schedule_to_close_timeout=_td(p.get("schedule_to_close_timeout")),
            heartbeat_timeout=_td(p.get("heartbeat_timeout")),
            correlation_id=str((p.get("headers") or {}).get("correlation_id") or ""),
            tenant_id=item.tenant_id,
        )
        if self._policies:
            refused = await self._consult_policies(item, info)
            if refused is not None:
                await self._fail(item, refused, policy)
                return
        ctx = _ActivityContext(self, item, info)
        task = asyncio.current_task()
        assert task is not None
        self._acts[item.id] = (task, ctx)
        args = codec.decode_args(p.get("input", []), defn.arg_types)
        heartbeats = asyncio.create_task(self._heartbeats(ctx))
        self._observer.activity_running(info)
        try:
            result = await self._invoke(defn, args, ctx)
        except asyncio.CancelledError:
            heartbeats.cancel()
            if ctx.cancelled and not self._stopping.is_set():
                await self._store.activity_canceled(item)
                return
            raise
        except _AttemptTimedOut as timed_out:
            heartbeats.cancel()
            await self._fail(item, timeout_failure(timed_out.kind, ctx.details), policy, ctx)
            return
        except BaseException as exc:
            heartbeats.cancel()
            await self._fail(item, failure_from_exception(exc), policy, ctx)
            return
        heartbeats.cancel()
        try:
            encoded = codec.encode(result)
            codec.check_size(
                encoded, f"the result of activity {defn.name}", self._client.max_payload_bytes
            )
        except Exception as exc:  # a bug in the activity: retrying cannot fix it
            error = ApplicationError(
                f"activity {defn.name} returned a result that cannot be stored: {exc}",
                type=type(exc).__name__,
                non_retryable=True,
            )
            await self._fail(item, failure_from_exception(error, with_stack=False), policy, ctx)
            return
        try:
            await self._results.submit((item, encoded))
        except UNREACHABLE:
            raise  # the lease expires and the reaper retries the attempt
        except Exception as exc:  # the database refused this result: retrying cannot fix it
            error = ApplicationError(
                str(refused_value(f"the result of activity {defn.name}", exc)),
                type="ResultNotStored",
                non_retryable=True,
            )
            await self._fail(item, failure_from_exception(error, with_stack=False), policy, ctx)

    async def _record_results(self, batch: list[tuple[ClaimedItem, Any]]) -> list[bool]:
        """Write a batch of activity results in one transaction; the workflow tasks they
        wake that this worker has slots for are claimed by it in the same transaction."""
        eager = self._eager("workflow")
        self._reserved_wfts += eager.limit if eager else 0
        try:
            recorded: list[bool] = await self._persist(
                f"results of {len(batch)} activities",
                lambda: self._store.complete_activities(batch, eager=eager),
            )
        finally:
            self._reserved_wfts -= eager.limit if eager else 0
        for claimed in eager.claimed if eager else ():
            self._start_workflow_task(claimed)
        return recorded

    async def _invoke(
        self, defn: ActivityDefinition, args: list[Any], ctx: _ActivityContext
    ) -> Any:
        """Run the activity; enforce its start-to-close, schedule-to-close and heartbeat
        timeouts locally (the reaper enforces them too, should this worker die)."""
        token = set_activity_runtime(ctx)
        try:
            context = contextvars.copy_context()
        finally:
            reset_activity_runtime(token)
        inner: asyncio.Future[Any]
        if defn.is_async:
            inner = asyncio.get_running_loop().create_task(defn.fn(*args), context=context)
        else:
            assert self._executor is not None
            inner = asyncio.get_running_loop().run_in_executor(
                self._executor, lambda: context.run(defn.fn, *args)
            )
        ctx.task = inner  # a Task (async) or a Future (thread pool)
        try:
            while True:
                kind, remaining = ctx.next_deadline()
                done, _ = await asyncio.wait({inner}, timeout=remaining)
                if done:
                    return inner.result()
                if kind is not None and ctx.next_deadline()[1] <= 0:
                    inner.cancel()
                    raise _AttemptTimedOut(kind)
        except asyncio.CancelledError:
            inner.cancel()
            raise

    async def _admit(
        self, row: Any, instance: WorkflowInstance
    ) -> tuple[PolicyDecision, list[cmd.Command] | None]:
        """Ask the worker's policies whether the run may start (its first workflow task).

        Returns the decision, and the commands that replace the workflow code when the
        start is denied (None otherwise). A start held for an approval keeps the code from
        starting until the approval is decided (see ``WorkflowInstance.hold_start``).
        """
        request = PolicyRequest(
            kind="workflow",
            name=row.workflow_type,
            workflow_id=row.workflow_id,
            run_id=row.run_id,
            workflow_type=row.workflow_type,
            tenant_id=row.tenant_id,
            task_queue=row.task_queue,
            attempt=row.attempt,
            args=list(row.input),
        )
        verdict, by = await consult(self._policies, request)
        attributes: dict[str, Any] = {"kind": "workflow", "workflow_type": row.workflow_type}
        if verdict.outcome is DecisionOutcome.REQUIRE_APPROVAL:
            attributes["approval"] = verdict.approval or row.workflow_type
            attributes["timeout"] = verdict.timeout.total_seconds() if verdict.timeout else None
            instance.hold_start(attributes["approval"])
        decision = decision_on(
            request,
            verdict.outcome,
            policy=by,
            reason=verdict.reason,
            attributes=attributes,
            decided_at=utcnow(),
        )
        if verdict.outcome is not DecisionOutcome.DENY:
            return decision, None
        error = ApplicationError(
            verdict.reason or f"workflow {row.workflow_type} denied by policy {by}",
            type=POLICY_DENIED,
            non_retryable=True,
        )
        return decision, [cmd.FailWorkflow(failure_from_exception(error, with_stack=False))]

    async def _consult_policies(self, item: ClaimedItem, info: ActivityInfo) -> Failure | None:
        """Ask the worker's policies about this attempt and record their decision.

        Returns the failure that ends the activity (denied, or held for an approval),
        or None to run it. A policy that raises fails the attempt, under its retry policy.
        """
        request = PolicyRequest(
            kind="activity",
            name=info.activity_type,
            workflow_id=item.workflow_id,
            run_id=item.run_id,
            workflow_type=info.workflow_type,
            tenant_id=item.tenant_id,
            task_queue=item.task_queue,
            attempt=item.attempt,
            args=list(item.payload.get("input", [])),
        )
        try:
            verdict, by = await consult(self._policies, request)
        except Exception as exc:
            return failure_from_exception(exc)
        outcome, reason = verdict.outcome, verdict.reason
        attributes: dict[str, Any] = {
            "kind": "activity",
            "activity_type": info.activity_type,
            "activity_id": info.activity_id,
            "attempt": item.attempt,
        }
        approval = verdict.approval or info.activity_type
        if outcome is DecisionOutcome.REQUIRE_APPROVAL:
            attributes["approval"] = approval
            granted = await self._store.granted_approval(item.tenant_id, item.run_id, approval)
            if granted is not None:
                outcome = DecisionOutcome.ALLOW
                reason = f"approval {approval!r} granted by {granted.decided_by}"
        decision = decision_on(
            request, outcome, policy=by, reason=reason, attributes=attributes, decided_at=utcnow()
        )
        await self._store.record_policy_decision(item, decision)
        if outcome is DecisionOutcome.DENY:
            error = ApplicationError(
                reason or f"activity {info.activity_type} denied by policy {by}",
                type=POLICY_DENIED,
                non_retryable=True,
            )
        elif outcome is DecisionOutcome.REQUIRE_APPROVAL:
            timeout = verdict.timeout.total_seconds() if verdict.timeout else None
            error = ApplicationError(
                f"activity {info.activity_type} needs approval {approval!r}: {reason}",
                {"approval": approval, "reason": reason, "timeout": timeout},
                type=APPROVAL_REQUIRED,
                non_retryable=True,
            )
        else:
            return None
        return failure_from_exception(error, with_stack=False)

    async def _heartbeats(self, ctx: _ActivityContext) -> None:
        item = ctx.item
        hb = item.payload.get("heartbeat_timeout")
        stc = item.payload.get("start_to_close_timeout")
        throttle = min(float(hb) * 0.5, 1.0) if hb else 1.0
        while True:
            await ctx.pending.wait()
            ctx.pending.clear()
            now = utcnow()
            bounds = []
            if hb:
                bounds.append(now + timedelta(seconds=float(hb)))
            if stc:
                bounds.append(item.started_at + timedelta(seconds=float(stc)))
            if item.deadline_at is not None:
                bounds.append(item.deadline_at)
            lease = min(bounds) if bounds else item.lease_expires_at
            try:
                cancel = await self._store.heartbeat(item, ctx.details or [], lease)
            except Exception as exc:
                _log.warning("heartbeat of %s failed: %s", item.name, exc)
                cancel = False
            if cancel and not ctx.cancelled:
                ctx.cancelled = True
                entry = self._acts.get(item.id)
                if entry is not None and ctx.task is not None:
                    ctx.task.cancel()
                    entry[0].cancel()
            await asyncio.sleep(throttle)

    async def _fail(
        self,
        item: ClaimedItem,
        failure: Failure,
        policy: RetryPolicy,
        ctx: _ActivityContext | None = None,
    ) -> None:
        details = ctx.details if ctx is not None else None
        self._observer.activity_failed(failure)
        await self._persist(
            f"failure of {item.name}",
            lambda: apply_retry_policy(
                self._store,
                item,
                failure,
                policy,
                heartbeat_details=details,
                observer=self._observer,
            ),
        )

    async def _persist(self, what: str, write: Callable[[], Awaitable[Any]]) -> Any:
        """Record an outcome (an activity's, a workflow task's), retrying while the database
        is unreachable (for up to a minute): work is not redone because of a short outage.
        A retry that comes too late is refused by the store's guards, never applied twice."""
        delay, deadline = 0.1, time.monotonic() + _OUTCOME_RETRY_SECONDS
        while True:
            try:
                return await write()
            except (OperationalError, InterfaceError) as exc:
                if time.monotonic() + delay > deadline:
                    raise
                _log.warning("recording the %s failed (%s); retrying in %.1fs", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)


def _td(seconds: Any) -> timedelta | None:
    return timedelta(seconds=float(seconds)) if seconds else None


def _start_gate(decision: PolicyDecision) -> cmd.RequestApproval:
    """The approval a start policy holds a run on."""
    attrs = decision.attributes
    return cmd.RequestApproval(
        name=str(attrs["approval"]),
        details={"workflow_type": attrs["workflow_type"], "reason": decision.reason},
        timeout=attrs.get("timeout"),
        gate=START_GATE,
    )


def rss_bytes() -> int:
    """The resident memory of this process now (Linux), or its peak elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)


def _oversize(commands: Sequence[cmd.Command], limit: int) -> Exception | None:
    """The first payload of ``commands`` that cannot be stored (over ``limit``, or holding
    NaN), as the error to fail the run with."""
    value: Any
    for c in commands:
        if isinstance(c, cmd.ScheduleActivity):
            value, what = c.args, f"the arguments of activity {c.activity_type}"
        elif isinstance(c, cmd.StartChild | cmd.ContinueAsNew):
            value, what = c.args, f"the input of workflow {c.workflow_type}"
        elif isinstance(c, cmd.CompleteWorkflow):
            value, what = c.result, "the workflow's result"
        elif isinstance(c, cmd.RequestApproval):
            value, what = c.details, f"the details of approval {c.name}"
        else:
            continue
        try:
            codec.check_size(value, what, limit)
        except (PayloadTooLargeError, ValueError) as exc:
            return exc
    return None


def _dropped(instance: WorkflowInstance | None) -> None:
    if instance is not None:
        instance.dispose()


def _wft_backoff(attempt: int) -> float:
    return float(min(0.5 * 2 ** (attempt - 1), 60.0))


_TERMINAL = frozenset(state.value for state in TERMINAL_STATES)
