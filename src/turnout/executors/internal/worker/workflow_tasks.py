"""Workflow tasks: load the history, run the workflow code, commit what it decided.

One task is three steps. *Load*: the run and the events this worker's cached instance
has not seen (reads of tasks running at once go together). *Decide*: the start
policies (first task only), then the workflow code on the watched code thread, then the
payload checks. *Commit*: the commands, their events and queue items and the run's
state in one transaction (commits of tasks finishing at once go together), claiming in
it the activities this worker has free slots for. The live instance stays in a bounded
cache between tasks (sticky execution); replay is the recovery path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import timedelta
from typing import Any

from turnout.contracts.errors import (
    Failure,
    PayloadTooLargeError,
    error_line,
    failure_from_exception,
)
from turnout.contracts.events import Event
from turnout.contracts.hooks import with_activity_headers
from turnout.contracts.records import DecisionOutcome, PolicyDecision
from turnout.contracts.states import TERMINAL_STATES
from turnout.contracts.worker_interceptors import WorkflowInboundInterceptor
from turnout.executors.internal import codec
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.batch import GroupCommit
from turnout.executors.internal.codethread import CodeThread, DeadlockError
from turnout.executors.internal.engine import WorkflowInstance, WorkflowTaskError
from turnout.executors.internal.handlers import UpdateRequest
from turnout.executors.internal.interception import WorkflowChain
from turnout.executors.internal.query import workflow_info
from turnout.executors.internal.store import (
    ClaimedItem,
    RunSnapshot,
    StaleTaskError,
    Store,
    UnhandledSignalError,
    WorkflowTaskCommit,
)
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.core import UNREACHABLE, refused_value, unstorable
from turnout.executors.internal.store.updates import UPDATES_PENDING
from turnout.executors.internal.store.workflow_tasks import runnable_activities
from turnout.executors.internal.worker.admission import Admission, start_gate
from turnout.executors.internal.worker.instance_cache import InstanceCache
from turnout.executors.internal.worker.local_activities import LocalActivities
from turnout.executors.internal.worker.outcomes import persist
from turnout.executors.internal.worker.slots import Slots
from turnout.observability._hooks import Observer
from turnout.workflows._definitions import WorkflowDefinition
from turnout.workflows._dynamic import lookup

__all__ = ["DEADLOCK_ATTEMPTS", "InstanceCache", "WorkflowTaskRunner"]

_log = logging.getLogger("turnout.worker")
_TERMINAL = frozenset(state.value for state in TERMINAL_STATES)

DEADLOCK_ATTEMPTS = 5
"""Workflow tasks in a row whose code did not yield before the task is dead-lettered."""


class WorkflowTaskRunner:
    """Runs the workflow tasks a worker claimed, each in a task of its own.

    ``dispatch`` starts the activities a commit claimed eagerly (the worker's, which
    knows the activity runner).
    """

    inbound_classes: list[type[WorkflowInboundInterceptor]] = []
    """The worker's interceptors' inbound classes, outermost first: each run's chain."""

    def __init__(
        self,
        *,
        store: Store,
        slots: Slots,
        workflows: Mapping[str, WorkflowDefinition],
        activity_names: Collection[str],
        admission: Admission,
        observer: Observer,
        code: CodeThread,
        cache_size: int,
        max_payload_bytes: int,
        dispatch: Callable[[ClaimedItem], None],
        local_activities: LocalActivities,
        failure_types: tuple[type[BaseException], ...] = (),
    ) -> None:
        self._store = store
        self._slots = slots
        self._workflows = workflows
        self._activity_names = activity_names
        self._admission = admission
        self._observer = observer
        self._code = code
        self._max_payload = max_payload_bytes
        self._dispatch = dispatch
        self._failure_types = failure_types
        self.local_activities = local_activities
        self.cache = InstanceCache(cache_size)
        # Workflow tasks running at once read their histories together, and commit
        # together: a few statements for all of them.
        self.reads: GroupCommit[tuple[str, int], tuple[RunSnapshot, list[Event]]] = GroupCommit(
            lambda wanted: store.load_histories(wanted),
            name="turnout-history-reads",
            shared=UNREACHABLE,
        )
        # ... and the update requests their runs have to decide, beside the histories.
        self.update_reads: GroupCommit[str, list[UpdateRequest]] = GroupCommit(
            lambda run_ids: _requested_updates(store, run_ids),
            name="turnout-update-reads",
            shared=UNREACHABLE,
        )
        self.commits: GroupCommit[WorkflowTaskCommit, range] = GroupCommit(
            lambda commits: store.commit_workflow_tasks(commits),
            name="turnout-workflow-task-commits",
        )

    # -- what health reads -----------------------------------------------------------
    def deadlocks(self) -> tuple[int, str | None]:
        """How many activations of workflow code did not yield, and the last one's message."""
        return self._code.deadlocks, self._code.last_deadlock

    def code_health(self) -> str:
        """``ok``, or why the threads that run workflow code are not."""
        stuck = self._code.stuck
        if not stuck:
            return "ok"
        return (
            f"{stuck} thread(s) still run workflow code that did not yield "
            f"({self._code.last_deadlock}); restart the worker to reclaim them"
        )

    # -- running -----------------------------------------------------------------------
    def start(self, item: ClaimedItem) -> None:
        """Run the claimed workflow task ``item`` in a task of its own."""
        self._observer.claimed(item)
        key = (item.id, item.attempt)
        self._slots.workflow_items[key] = item
        self._slots.workflow_tasks[key] = asyncio.create_task(self._task(item))

    def close(self) -> None:
        """Drop the cached instances and let the code thread end."""
        self.cache.clear()
        self._code.close()

    async def _task(self, item: ClaimedItem) -> None:
        crash: BaseException | None = None
        try:
            self._observer.workflow_task_began(item)
            await self._process(item)
        except asyncio.CancelledError:
            raise
        except UNREACHABLE as exc:
            # The database stayed out of reach for longer than outcomes are retried: the
            # task goes back to the queue once its lease expires (another worker may take
            # it sooner). One line, not a traceback: the cause is the database.
            crash = exc
            _log.warning(
                "workflow task %s of run %s stopped: the database is out of reach (%s)",
                item.id,
                item.run_id,
                error_line(exc),
            )
            self.cache.evict(item.run_id)
        except Exception as exc:
            crash = exc
            _log.exception("workflow task %s of run %s crashed", item.id, item.run_id)
            self.cache.evict(item.run_id)
        finally:
            self._slots.workflow_tasks.pop((item.id, item.attempt), None)
            self._slots.workflow_items.pop((item.id, item.attempt), None)
            self._slots.task_leases.pop(item.id, None)
            self._slots.freed()
            self._observer.workflow_task_ended(crash)

    async def _process(self, item: ClaimedItem) -> None:
        defn = lookup(self._workflows, item.name or "")
        if defn is None:
            message = (
                f"workflow type {item.name!r} is not registered on worker {self._slots.identity} "
                f"(task queue {self._slots.task_queue}); registered: {sorted(self._workflows)}"
            )
            # Said where an operator looks first, each attempt (it backs off), as Temporal's
            # worker logs a workflow type it does not know.
            _log.warning("run %s of %s: %s", item.run_id, item.workflow_id, message)
            await self._store.fail_workflow_task(
                item,
                Failure(kind="application", message=message, type="NotRegistered"),
                retry_in=backoff(item.attempt),
            )
            return
        instance = self.cache.take(item.run_id)
        try:
            instance = await self._load_decide_commit(item, defn, instance)
        except BaseException:
            if instance is not None:
                instance.dispose()
            raise
        if instance is not None:
            if instance.closed:
                instance.dispose()
            else:
                self.cache.put(item.run_id, instance)

    async def _load_decide_commit(
        self, item: ClaimedItem, defn: WorkflowDefinition, instance: WorkflowInstance | None
    ) -> WorkflowInstance | None:
        """Run one workflow task; the instance to keep cached, or None to drop it."""
        seen = instance.seen_seq if instance is not None else 0
        updates = bool(item.payload.get(UPDATES_PENDING))  # only such a task decides any

        async def read_history() -> tuple[Any, list[Event]]:
            # What the claim read, unless the task has updates to decide: those are read
            # now, and a signal sent before one must be in the history it sees.
            claimed = item.history
            if claimed is not None and item.history_after <= seen and not updates:
                return claimed[0], [e for e in claimed[1] if e.seq > seen]
            return await persist(
                f"history of run {item.run_id}", lambda: self.reads.submit((item.run_id, seen))
            )

        requests: list[UpdateRequest] = []
        if updates:
            (row, history), requests = await asyncio.gather(
                read_history(),
                persist(
                    f"update requests of run {item.run_id}",
                    lambda: self.update_reads.submit(item.run_id),
                ),
            )
        else:
            row, history = await read_history()
        if row.state in _TERMINAL:
            await self._store.abandon_workflow_task(item)
            _dropped(instance)
            return None
        if instance is not None and instance.task_count != row.workflow_task_count:
            instance.dispose()
            instance = None
            row, history = await persist(
                f"history of run {item.run_id}", lambda: self.reads.submit((item.run_id, 0))
            )
        await self._hold(item, row)
        info = workflow_info(row, task_lease=self._slots.workflow_lease)
        if instance is None:
            instance = WorkflowInstance(
                defn, info, list(row.input), failure_types=self._failure_types
            )
            if self.inbound_classes:
                instance.chain = WorkflowChain(self.inbound_classes, instance)
        self._observer.workflow_task_loaded(info)
        decided = await self._decide(item, row, history, instance, info.correlation_id, requests)
        if decided is None:
            return None
        commands, decisions = decided
        seqs = await self._commit(item, row, instance, commands, decisions)
        if seqs is None:
            return None
        instance.committed(seqs)
        self._observer.workflow_task_committed(commands)
        return instance

    async def _hold(self, item: ClaimedItem, row: RunSnapshot) -> None:
        """Lease the task for the run's own ``task_timeout``, if it has one: a worker that
        dies holding it is then replaced that soon, as Temporal retries a timed-out task."""
        timeout = (row.options or {}).get("task_timeout")
        if timeout and item.id not in self._slots.task_leases:
            self._slots.task_leases[item.id] = float(timeout)
            self._slots.leases_changed.set()
            until = utcnow() + timedelta(seconds=float(timeout))
            await self._store.extend_leases(self._slots.identity, [item.id], until)

    async def _decide(
        self,
        item: ClaimedItem,
        row: Any,
        history: Sequence[Event],
        instance: WorkflowInstance,
        correlation_id: str,
        requests: Sequence[UpdateRequest] = (),
    ) -> tuple[list[cmd.Command], list[PolicyDecision]] | None:
        """The commands of this task and the policy decisions to record with them; None
        when the task failed (recorded, the instance disposed)."""
        decisions: list[PolicyDecision] = []
        denied: list[cmd.Command] | None = None
        if self._admission and row.workflow_task_count == 0:
            try:
                decision, denied = await self._admission.admit_run(row, instance)
            except Exception as exc:  # a policy that raises: redo the task later
                await self._store.fail_workflow_task(
                    item, failure_from_exception(exc), retry_in=backoff(item.attempt)
                )
                _dropped(instance)
                return None
            decisions.append(decision)
        try:
            if denied is not None:  # the workflow code never runs
                commands = denied
                instance.processed_through = max((e.seq for e in history), default=0)
                instance.dispose()
            else:
                commands = await self._code.run(
                    lambda: instance.advance(history, utcnow(), updates=requests),
                    progress=lambda: instance.activated_at,
                    after_abandon=instance.dispose,
                )
                commands += await self.local_activities.run(item, instance, self._code)
            if decisions and decisions[0].outcome is DecisionOutcome.REQUIRE_APPROVAL:
                commands = [*commands, start_gate(decisions[0])]
            # The activities carry the run's correlation id (their log lines and events
            # name it); the observer may add its own headers (a trace context).
            commands = with_activity_headers(commands, {"correlation_id": correlation_id})
            commands = self._observer.scheduling(commands)
            oversize = _oversize(commands, self._max_payload)
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
                item, failure_from_exception(cause), retry_in=backoff(item.attempt)
            )
            _dropped(instance)
            return None
        return commands, decisions

    async def _commit(
        self,
        item: ClaimedItem,
        row: Any,
        instance: WorkflowInstance,
        commands: list[cmd.Command],
        decisions: list[PolicyDecision],
    ) -> range | None:
        """Commit the task; the seqs of its events, or None when it could not commit
        (recorded, the instance disposed)."""

        def commit(commands: list[cmd.Command], eager: Any) -> WorkflowTaskCommit:
            return WorkflowTaskCommit(
                item,
                expected_task_count=row.workflow_task_count,
                processed_through=instance.processed_through,
                time=instance.now_value,
                commands=commands,
                decisions=decisions,
                eager=eager,
                seen_through=instance.seen_seq,
                run=row,
                sticky=self.cache.size > 0,
                children=instance.operations.children_started,
            )

        try:
            # Slots for the activities this task schedules, no more: other tasks
            # committing at the same time reserve theirs.
            wanted = runnable_activities(commands, self._slots.task_queue, self._activity_names)
            eager = self._slots.eager("activity", wanted=len(wanted))
            with self._slots.reserved(activities=eager.limit if eager else 0):
                seqs = await persist(
                    f"workflow task of {row.workflow_id}",
                    lambda: self.commits.submit(commit(commands, eager)),
                )
            for claimed in eager.claimed if eager else ():
                self._dispatch(claimed)
            return seqs
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
            _dropped(instance)
            if not unstorable(exc):
                # The commit failed for another reason (a database error, a child id taken
                # by a concurrent start): record it and retry the task instead of waiting
                # for the lease to expire.
                _log.warning("commit of workflow task %s failed: %r", item.id, exc)
                await self._retry(item, exc)
                return None
            # The database refused a value the commands carry: retrying cannot fix it. The
            # run fails, saying why (as it does for a payload over the limit).
            error = refused_value(f"a command of workflow task {item.id}", exc)
            _log.warning("%s %s: %s", row.workflow_type, row.workflow_id, error)
            failed: list[cmd.Command] = [
                cmd.FailWorkflow(failure_from_exception(error, with_stack=False))
            ]
            with contextlib.suppress(Exception):
                await self.commits.submit(commit(failed, None))
                return None
            await self._retry(item, error)
            return None

    async def _retry(self, item: ClaimedItem, exc: BaseException) -> None:
        """Record a workflow task's failure and queue it again after a backoff."""
        with contextlib.suppress(Exception):
            await self._store.fail_workflow_task(
                item, failure_from_exception(exc), retry_in=backoff(item.attempt)
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
            retry_in=backoff(item.attempt),
            dead=dead,
        )


async def _requested_updates(store: Store, run_ids: Sequence[str]) -> list[list[UpdateRequest]]:
    """The update requests each run has to decide, in the order of ``run_ids``."""
    found = await store.requested_updates(run_ids)
    return [found.get(run_id, []) for run_id in run_ids]


def backoff(attempt: int) -> float:
    """Seconds before a failed workflow task's next attempt: 0.5 s, doubling, at most 60 s."""
    return float(min(0.5 * 2 ** (attempt - 1), 60.0))


def _oversize(commands: Sequence[cmd.Command], limit: int) -> Exception | None:
    """The first payload of ``commands`` that cannot be stored (over ``limit``, or holding
    NaN), as the error to fail the run with."""
    for c in commands:
        carried = c.payload()
        if carried is None:
            continue
        value, what = carried
        try:
            codec.check_size(value, what, limit)
        except (PayloadTooLargeError, ValueError) as exc:
            return exc
    return None


def _dropped(instance: WorkflowInstance | None) -> None:
    if instance is not None:
        instance.dispose()
