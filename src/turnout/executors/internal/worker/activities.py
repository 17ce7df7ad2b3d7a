"""Activities: one attempt's runner, its context (``activity.*``), heartbeats and timeouts.

The worker that runs an attempt enforces its start-to-close, schedule-to-close and
heartbeat timeouts itself (the reaper enforces them too, should this worker die).
Results of attempts that finish together are written in one transaction; the workflow
tasks they wake that this worker has slots for are claimed in it too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from turnout.contracts.errors import (
    ApplicationError,
    CancelledError,
    Failure,
    error_line,
    failure_from_exception,
)
from turnout.contracts.retry import RetryPolicy
from turnout.contracts.worker_interceptors import Interceptor
from turnout.executors.internal import codec
from turnout.executors.internal.async_activity import heartbeat_lease, task_token
from turnout.executors.internal.batch import GroupCommit
from turnout.executors.internal.reaper import timeout_failure
from turnout.executors.internal.store import ClaimedItem, Store
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.core import UNREACHABLE, refused_value
from turnout.executors.internal.worker.activity_chain import intercepted_attempt, start_attempt
from turnout.executors.internal.worker.activity_context import ActivityContext, AttemptTimedOut
from turnout.executors.internal.worker.admission import Admission
from turnout.executors.internal.worker.outcomes import fail_activity, persist
from turnout.executors.internal.worker.process_pool import ProcessPool
from turnout.executors.internal.worker.slots import Slots
from turnout.observability._hooks import Observer
from turnout.workflows._definitions import ActivityDefinition
from turnout.workflows._dynamic import lookup
from turnout.workflows._runtime import (
    ActivityInfo,
    CompleteAsyncError,
    reset_activity_runtime,
    set_activity_runtime,
)

__all__ = ["ActivityContext", "ActivityRunner"]

_log = logging.getLogger("turnout.worker")


class ActivityRunner:
    """Runs the activity attempts a worker claimed, each in a task of its own.

    ``dispatch`` starts a workflow task this runner claimed eagerly with a batch of
    results (the worker's, which knows the workflow-task runner).
    """

    def __init__(
        self,
        *,
        store: Store,
        slots: Slots,
        activities: Mapping[str, ActivityDefinition],
        admission: Admission,
        observer: Observer,
        executor: concurrent.futures.Executor | None,
        max_payload_bytes: int,
        dispatch: Callable[[ClaimedItem], None],
        client: Any = None,
        pool: ProcessPool | None = None,
        seen: Callable[[str], int] | None = None,
    ) -> None:
        self._store = store
        self._slots = slots
        self._activities = activities
        self._admission = admission
        self._observer = observer
        self._executor = executor
        self._max_payload = max_payload_bytes
        self._dispatch = dispatch
        self._client = client
        self._pool = pool  # runs the sync activities when executor is a process pool
        self._seen = seen  # the workflow instances' last seqs: histories come with claims
        self.interceptors: list[Interceptor] = []
        """The worker's interceptors, which each attempt passes."""
        # A batch that fails for one bad item is written again item by item (shared=...):
        # only that item's caller hears the error.
        self.results: GroupCommit[tuple[ClaimedItem, Any], bool] = GroupCommit(
            self._record_results, name="turnout-results", shared=UNREACHABLE
        )

    def start(self, item: ClaimedItem) -> None:
        """Run the claimed attempt ``item`` in a task of its own."""
        self._observer.claimed(item)
        task = asyncio.create_task(self._attempt(item))
        self._slots.activities[item.id] = (task, None)

    async def _attempt(self, item: ClaimedItem) -> None:
        crash: BaseException | None = None
        try:
            self._observer.activity_began(item)
            await self._run(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            crash = exc
            _log.exception(
                "activity %s of run %s: could not record its outcome", item.name, item.run_id
            )
        finally:
            self._slots.activities.pop(item.id, None)
            self._slots.freed()
            self._observer.activity_ended(crash)

    async def _run(self, item: ClaimedItem) -> None:
        try:
            stored = item.activity.read()
            policy = RetryPolicy.model_validate(stored.retry_policy)
            for seconds in (
                stored.start_to_close_timeout,
                stored.schedule_to_close_timeout,
                stored.heartbeat_timeout,
            ):
                _td(seconds)
        except (ValueError, OverflowError, TypeError) as exc:
            # Options stored before they were checked (an older release): no attempt can
            # run under them, so the activity fails for good, saying why.
            unreadable = ApplicationError(
                f"the stored options of activity {item.name} cannot be used: {_first_line(exc)}",
                type="InvalidOptions",
                non_retryable=True,
            )
            await self._fail(item, failure_from_exception(unreadable, with_stack=False))
            return
        defn = lookup(self._activities, item.name or "")
        if defn is None:
            failure = Failure(
                kind="application",
                message=(
                    f"activity {item.name!r} is not registered on worker {self._slots.identity} "
                    f"(task queue {self._slots.task_queue}); "
                    f"registered: {sorted(self._activities)}"
                ),
                type="NotRegistered",
            )
            await self._fail(item, failure, policy)
            return
        info = _info(item, defn)
        if self._admission:
            refused = await self._admission.admit_activity(item, info)
            if refused is not None:
                await self._fail(item, refused, policy)
                return
        ctx = ActivityContext(self._store, item, info, self._client)
        task = asyncio.current_task()
        assert task is not None
        self._slots.activities[item.id] = (task, ctx)
        args = codec.decode_args(stored.input, defn.arg_types)
        heartbeats = asyncio.create_task(self._heartbeats(ctx))
        self._observer.activity_running(info)
        try:
            result = await self._invoke(defn, args, ctx)
        except asyncio.CancelledError:
            heartbeats.cancel()
            if ctx.cancelled and not self._slots.stopping.is_set():
                await self._store.activity_canceled(item)
                return
            raise
        except CompleteAsyncError:
            heartbeats.cancel()
            await self._left_open(ctx)
            return
        except AttemptTimedOut as timed_out:
            heartbeats.cancel()
            await self._fail(item, timeout_failure(timed_out.kind, ctx.details), policy, ctx)
            return
        except BaseException as exc:
            heartbeats.cancel()
            if ctx.cancelled and isinstance(exc, CancelledError):  # a child process, told
                await self._store.activity_canceled(item)
                return
            # As Temporal's worker does: each failed attempt is logged with its traceback.
            _log.warning(
                "activity %s (%s, attempt %d) of workflow %s failed: %s",
                item.name,
                item.activity.activity_id,
                item.attempt,
                item.workflow_id,
                error_line(exc),
                exc_info=exc,
            )
            await self._fail(item, failure_from_exception(exc), policy, ctx)
            return
        heartbeats.cancel()
        await self._record(item, defn, result, policy, ctx)

    async def _record(
        self,
        item: ClaimedItem,
        defn: ActivityDefinition,
        result: Any,
        policy: RetryPolicy,
        ctx: ActivityContext,
    ) -> None:
        try:
            encoded = codec.encode(result)
            codec.check_size(encoded, f"the result of activity {defn.name}", self._max_payload)
        except Exception as exc:  # a bug in the activity: retrying cannot fix it
            error = ApplicationError(
                f"activity {defn.name} returned a result that cannot be stored: {exc}",
                type=type(exc).__name__,
                non_retryable=True,
            )
            await self._fail(item, failure_from_exception(error, with_stack=False), policy, ctx)
            return
        try:
            await self.results.submit((item, encoded))
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
        eager = self._slots.eager("workflow")
        if eager is not None and self._seen is not None:
            for item, _ in batch:
                if seen := self._seen(item.run_id):
                    eager.seen[item.run_id] = seen
        with self._slots.reserved(workflow_tasks=eager.limit if eager else 0):
            recorded: list[bool] = await persist(
                f"results of {len(batch)} activities",
                lambda: self._store.complete_activities(batch, eager=eager),
            )
        for claimed in eager.claimed if eager else ():
            self._dispatch(claimed)
        return recorded

    async def _invoke(self, defn: ActivityDefinition, args: list[Any], ctx: ActivityContext) -> Any:
        """Run the activity; enforce its start-to-close, schedule-to-close and heartbeat
        timeouts locally (the reaper enforces them too, should this worker die)."""
        token = set_activity_runtime(ctx)
        try:
            context = contextvars.copy_context()
        finally:
            reset_activity_runtime(token)
        inner: asyncio.Future[Any]
        if self.interceptors:
            attempt = intercepted_attempt(
                self.interceptors, defn.fn, args, ctx.item.activity.header, self._executor, ctx,
                lambda fn, a: self._start(defn, fn, list(a), ctx, contextvars.copy_context()),
            )  # fmt: skip
            inner = asyncio.get_running_loop().create_task(attempt, context=context)
        else:
            inner = self._start(defn, defn.fn, args, ctx, context)
        ctx.task = inner  # a Task (async) or a Future (thread pool)
        try:
            while True:
                kind, remaining = ctx.next_deadline()
                done, _ = await asyncio.wait({inner}, timeout=remaining)
                if done:
                    return inner.result()
                if kind is not None and ctx.next_deadline()[1] <= 0:
                    inner.cancel()
                    raise AttemptTimedOut(kind)
        except asyncio.CancelledError:
            inner.cancel()
            raise

    def _start(
        self,
        defn: ActivityDefinition,
        fn: Callable[..., Any],
        args: list[Any],
        ctx: ActivityContext,
        context: contextvars.Context,
    ) -> asyncio.Future[Any]:
        """The attempt's ``fn(*args)``, started: a task, a thread or a process."""
        return start_attempt(
            defn, fn, args, context, executor=self._executor, pool=self._pool,
            info=ctx.info(), beats=ctx,
        )  # fmt: skip

    async def _heartbeats(self, ctx: ActivityContext) -> None:
        item = ctx.item
        hb = item.activity.heartbeat_timeout
        throttle = min(hb * 0.5, 1.0) if hb else 1.0
        while True:
            await ctx.pending.wait()
            ctx.pending.clear()
            lease = heartbeat_lease(item, utcnow())
            try:  # shielded: the attempt ending must not cut a write short
                cancel = await asyncio.shield(self._store.heartbeat(item, ctx.details or [], lease))
            except Exception as exc:
                _log.warning("heartbeat of %s failed: %s", item.name, exc)
                cancel = False
            if cancel and not ctx.cancelled:
                ctx.cancel()
                entry = self._slots.activities.get(item.id)
                if entry is not None and ctx.task is not None and ctx.cancel_child is None:
                    ctx.task.cancel()
                    if not isinstance(ctx.task, asyncio.Task):
                        # A thread is not interrupted: the attempt ends now. An async
                        # activity may answer its cancellation with a result, recorded
                        # as its completion, as on Temporal.
                        entry[0].cancel()
            await asyncio.sleep(throttle)

    async def _left_open(self, ctx: ActivityContext) -> None:
        """The attempt called ``raise_complete_async()``: its item stays running under
        its lease (its timeouts) for a handle to complete; a heartbeat not yet written
        is written now. The slot is freed as for any other outcome."""
        item = ctx.item
        _log.debug("activity %s of run %s: completed asynchronously", item.name, item.run_id)
        if ctx.pending.is_set():
            await persist(
                f"last heartbeat of {item.name}",
                lambda: self._store.heartbeat(
                    item, ctx.details or [], heartbeat_lease(item, utcnow())
                ),
            )

    async def _fail(
        self,
        item: ClaimedItem,
        failure: Failure,
        policy: RetryPolicy | None = None,
        ctx: ActivityContext | None = None,
    ) -> None:
        details = ctx.details if ctx is not None else None
        await fail_activity(
            self._store, self._observer, item, failure, policy or RetryPolicy(), details
        )


def _info(item: ClaimedItem, defn: ActivityDefinition) -> ActivityInfo:
    task = item.activity
    return ActivityInfo(
        activity_id=task.activity_id,
        activity_type=defn.name,
        attempt=item.attempt,
        workflow_id=item.workflow_id,
        workflow_run_id=item.run_id,
        workflow_type=task.workflow_type,
        task_queue=item.task_queue,
        scheduled_time=datetime.fromisoformat(task.scheduled_at)
        if task.scheduled_at
        else item.created_at,
        started_time=item.started_at,
        heartbeat_details=list(item.heartbeat_details or []),
        start_to_close_timeout=_td(task.start_to_close_timeout),
        schedule_to_close_timeout=_td(task.schedule_to_close_timeout),
        heartbeat_timeout=_td(task.heartbeat_timeout),
        correlation_id=str(task.headers.get("correlation_id") or ""),
        tenant_id=item.tenant_id,
        task_token=task_token(item),
    )


def _td(seconds: float | None) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds else None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
