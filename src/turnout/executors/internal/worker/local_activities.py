"""Local activities: run by the worker that runs the workflow task asking for them.

After an activation, the workflow task's runner hands the instance to
:meth:`LocalActivities.run`, which starts the local activities the code asked for, each
in a task of its own, retrying each under its retry policy and timeouts, and gives the
workflow each outcome as it comes (one at a time, as replay will), collecting the
commands the code goes on to produce. The workflow task commits once none is left, with
a marker per outcome: no queue item, no round trip through the database. The worker's
lease on the workflow task is extended meanwhile, as for any task in flight.

Heartbeats of a local activity are accepted and go nowhere, as on Temporal.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NoReturn

from turnout.contracts.errors import (
    Failure,
    TimeoutType,
    error_line,
    failure_from_exception,
)
from turnout.contracts.records import Artifact
from turnout.contracts.retry import RetryPolicy
from turnout.contracts.worker_interceptors import Interceptor
from turnout.executors.internal import codec
from turnout.executors.internal.codethread import CodeThread
from turnout.executors.internal.commands import Command
from turnout.executors.internal.engine import WorkflowInstance
from turnout.executors.internal.markers import LocalActivityOutcome, LocalActivityRequest
from turnout.executors.internal.reaper import timeout_failure
from turnout.executors.internal.store import ClaimedItem, Store
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.worker.activity_chain import intercepted_attempt, start_attempt
from turnout.executors.internal.worker.process_pool import ProcessPool
from turnout.workflows._definitions import ActivityDefinition
from turnout.workflows._dynamic import lookup
from turnout.workflows._runtime import (
    ActivityInfo,
    ArtifactSpec,
    WorkflowInfo,
    reset_activity_runtime,
    set_activity_runtime,
)

__all__ = ["LocalActivities"]

_log = logging.getLogger("turnout.worker")


class _LocalContext:
    """The ActivityRuntime of one attempt of a local activity."""

    def __init__(self, info: ActivityInfo, client: Any, record: Callable[[Artifact], Any]) -> None:
        self._info = info
        self._client = client
        self._record = record

    def info(self) -> ActivityInfo:
        return self._info

    def heartbeat(self, *details: Any) -> None:
        codec.check_payload(codec.encode_args(details), "the heartbeat details")

    def is_cancelled(self) -> bool:
        return False

    async def wait_for_cancelled(self) -> None:
        await asyncio.Event().wait()  # a cancelled local activity sees CancelledError

    def wait_for_cancelled_sync(self, timeout: float | None) -> bool:
        if timeout is not None:
            time.sleep(timeout)
        return False

    def raise_complete_async(self) -> NoReturn:
        raise RuntimeError(
            "a local activity cannot complete asynchronously; call it with "
            "workflow.execute_activity instead"
        )

    def payload_converter(self) -> codec.JsonPayloadConverter:
        return codec.CONVERTER

    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError(
                "this activity runs without a client; connect with turnout.connect()"
            )
        return self._client

    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        from turnout.workflows.activity import logger

        return logger

    async def record_artifact(self, spec: ArtifactSpec) -> Artifact:
        info = self._info
        artifact = spec.recorded(
            run_id=info.workflow_run_id,
            workflow_id=info.workflow_id,
            tenant_id=info.tenant_id,
            activity_type=info.activity_type,
            created_at=utcnow(),
        )
        await self._record(artifact)
        return artifact


class LocalActivities:
    """Runs a worker's local activities (see the module docstring)."""

    def __init__(
        self,
        *,
        store: Store,
        activities: Mapping[str, ActivityDefinition],
        executor: concurrent.futures.Executor | None,
        client: Any = None,
        pool: ProcessPool | None = None,
    ) -> None:
        self._store = store
        self._activities = activities
        self._executor = executor
        self._client = client
        self._pool = pool
        self.interceptors: list[Interceptor] = []
        """The worker's interceptors, which each attempt passes."""

    async def run(
        self, item: ClaimedItem, instance: WorkflowInstance, code: CodeThread
    ) -> list[Command]:
        """Run what the instance's last activation asked for, and the activations each
        outcome leads to; the commands those activations produced."""
        commands: list[Command] = []
        running: dict[asyncio.Task[LocalActivityOutcome], int] = {}
        info = instance.info
        try:
            while True:
                if not instance.closed:
                    for request in instance.markers.take_requests():
                        task = asyncio.create_task(self._attempts(item, info, request))
                        running[task] = request.seq
                    for task, seq in running.items():
                        if seq in instance.markers.cancel_requested:
                            task.cancel()
                if not running:
                    return commands
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=running.__getitem__):
                    seq = running.pop(task)
                    outcome = _outcome(task, seq)
                    if not instance.closed:
                        commands += await code.run(
                            functools.partial(instance.settle_local, outcome),
                            progress=lambda: instance.activated_at,
                            after_abandon=instance.dispose,
                        )
        finally:
            for task in running:
                task.cancel()

    async def _attempts(
        self, item: ClaimedItem, workflow: WorkflowInfo, request: LocalActivityRequest
    ) -> LocalActivityOutcome:
        options = request.options
        policy = options.retry_policy or RetryPolicy()
        scheduled = utcnow()
        deadline = _seconds(options.schedule_to_close_timeout)
        ends = time.monotonic() + deadline if deadline is not None else None
        attempt = 1
        while True:
            failure = await self._attempt(item, workflow, request, attempt, scheduled, ends)
            if isinstance(failure, LocalActivityOutcome):
                return failure
            final = failure.kind == "timeout" and failure.type == TimeoutType.SCHEDULE_TO_CLOSE
            delay = policy.next_delay(attempt).total_seconds()
            if (
                final
                or policy.attempts_exhausted(attempt)
                or not policy.is_retryable(failure.type, non_retryable=failure.non_retryable)
                or (ends is not None and time.monotonic() + delay >= ends)
            ):
                return LocalActivityOutcome(request.seq, attempt, failure=_final(request, failure))
            await asyncio.sleep(delay)
            attempt += 1

    async def _attempt(
        self,
        item: ClaimedItem,
        workflow: WorkflowInfo,
        request: LocalActivityRequest,
        attempt: int,
        scheduled: datetime,
        ends: float | None,
    ) -> Failure | LocalActivityOutcome:
        """One attempt: its outcome when it succeeded, else the failure it ended with."""
        defn = lookup(self._activities, request.activity_type)
        if defn is None:
            return Failure(
                kind="application",
                message=(
                    f"local activity {request.activity_type!r} is not registered on this worker; "
                    f"registered: {sorted(self._activities)}"
                ),
                type="NotRegistered",
            )
        options = request.options
        info = ActivityInfo(
            activity_id=request.activity_id,
            activity_type=defn.name,
            attempt=attempt,
            workflow_id=workflow.workflow_id,
            workflow_run_id=workflow.run_id,
            workflow_type=workflow.workflow_type,
            task_queue=workflow.task_queue,
            scheduled_time=scheduled,
            started_time=utcnow(),
            start_to_close_timeout=options.start_to_close_timeout,
            schedule_to_close_timeout=options.schedule_to_close_timeout,
            correlation_id=workflow.correlation_id,
            tenant_id=workflow.tenant_id,
            is_local=True,
            workflow_namespace=workflow.namespace,
        )
        context = _LocalContext(info, self._client, lambda a: self._store.record_artifact(item, a))
        limits = [(TimeoutType.START_TO_CLOSE, _seconds(options.start_to_close_timeout))]
        if ends is not None:
            limits.append((TimeoutType.SCHEDULE_TO_CLOSE, ends - time.monotonic()))
        kind, limit = min(((k, s) for k, s in limits if s is not None), key=lambda pair: pair[1])
        try:
            args = codec.decode_args(request.args, defn.arg_types)
            async with asyncio.timeout(max(limit, 0.0)):
                result = await self._invoke(defn, args, context, request.header)
            return LocalActivityOutcome(request.seq, attempt, result=codec.encode(result))
        except TimeoutError:
            return timeout_failure(kind, None)
        except Exception as exc:
            _log.warning(
                "local activity %s (attempt %d) of workflow %s failed: %s",
                request.activity_type,
                attempt,
                workflow.workflow_id,
                error_line(exc),
                exc_info=True,
            )
            return failure_from_exception(exc)

    async def _invoke(
        self,
        defn: ActivityDefinition,
        args: list[Any],
        ctx: _LocalContext,
        header: dict[str, Any],
    ) -> Any:
        token = set_activity_runtime(ctx)
        try:
            context = contextvars.copy_context()
        finally:
            reset_activity_runtime(token)
        if self.interceptors:
            attempt = intercepted_attempt(
                self.interceptors, defn.fn, args, header, self._executor, ctx,
                lambda fn, a: self._start(defn, fn, list(a), ctx, contextvars.copy_context()),
            )  # fmt: skip
            return await asyncio.get_running_loop().create_task(attempt, context=context)
        return await self._start(defn, defn.fn, args, ctx, context)

    def _start(
        self,
        defn: ActivityDefinition,
        fn: Callable[..., Any],
        args: list[Any],
        ctx: _LocalContext,
        context: contextvars.Context,
    ) -> Awaitable[Any]:
        """The attempt's ``fn(*args)``, started: a task, a thread or a process (whose
        heartbeats go nowhere: a local activity's do not, here either)."""
        return start_attempt(
            defn, fn, args, context, executor=self._executor, pool=self._pool,
            info=ctx.info(), beats=None,
        )  # fmt: skip


def _outcome(task: asyncio.Task[LocalActivityOutcome], seq: int) -> LocalActivityOutcome:
    """The task's outcome; a cancelled one (the workflow asked) fails as cancelled."""
    if task.cancelled():
        cancelled = failure_from_exception(asyncio.CancelledError("local activity cancelled"))
        return LocalActivityOutcome(seq, 1, failure=cancelled)
    return task.result()


def _final(request: LocalActivityRequest, failure: Failure) -> Failure:
    """What the workflow sees, as on Temporal: the last attempt's failure itself (an
    ApplicationError, say), but a timeout inside an activity failure."""
    if failure.kind != "timeout":
        return failure
    return Failure(
        kind="activity",
        message="Local Activity timed out",
        attributes={
            "activity_type": request.activity_type,
            "activity_id": request.activity_id,
            "retry_state": "timeout",
        },
        cause=failure,
    )


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None
