"""Queries: the worker answers the query requests of its task queue.

A client stores a request for the task queue of the run it asks (``store/queries.py``).
The worker claims the requests of workflow types it has registered (a request of a type
it lacks is left for a worker that has it), woken by the request's notification, and
looking every poll interval besides (a request from another process on SQLite). It
answers each from its cached instance of the run when that instance has seen the whole
history, and otherwise by replaying the history on a fresh instance of its own code; the
handler runs read-only on the code thread, watched for deadlocks. The answer is the
handler's result, or its error, or, for a name no handler takes, the names it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import timedelta

from turnout.contracts.errors import error_line
from turnout.contracts.worker_interceptors import WorkflowInboundInterceptor
from turnout.executors.internal.codethread import CodeThread, DeadlockError
from turnout.executors.internal.engine import WorkflowInstance
from turnout.executors.internal.interception import WorkflowChain
from turnout.executors.internal.query import answer_query, replay_and_answer, workflow_info
from turnout.executors.internal.store import Store
from turnout.executors.internal.store.notify import query_channel
from turnout.executors.internal.store.query_records import (
    QueryAnswer,
    QueryClaimParams,
    QueryRequest,
)
from turnout.executors.internal.worker.instance_cache import InstanceCache
from turnout.workflows._definitions import WorkflowDefinition
from turnout.workflows._dynamic import DYNAMIC, lookup

__all__ = ["QUERY_SWEEP_GRACE", "QueryRunner"]

_log = logging.getLogger("turnout.worker")

QUERY_SWEEP_GRACE = timedelta(seconds=60)
"""How long past its expiry a request stays before a worker's sweep deletes it (its
caller deletes it first, unless the caller's process went away)."""


class QueryRunner:
    """Claims and answers the query requests of one task queue (see the module docstring).

    ``cache`` and ``code`` are the workflow task runner's: the instance cache a query
    reads, and the thread workflow code runs on.
    """

    inbound_classes: list[type[WorkflowInboundInterceptor]] = []
    """The worker's interceptors' inbound classes, outermost first: each run's chain."""

    def __init__(
        self,
        *,
        store: Store,
        cache: InstanceCache,
        code: CodeThread,
        workflows: Mapping[str, WorkflowDefinition],
        task_queue: str,
        identity: str,
        tenant_id: str,
        poll_interval: float,
        failure_types: tuple[type[BaseException], ...] = (),
        concurrency: int = 8,
    ) -> None:
        self._store = store
        self._cache = cache
        self._code = code
        self._workflows = workflows
        self._task_queue = task_queue
        self._identity = identity
        self._tenant_id = tenant_id
        self.poll_interval = poll_interval
        """Seconds between looks when no wake-up comes."""
        self._failure_types = failure_types
        self._concurrency = concurrency
        # A worker with a dynamic workflow runs every type, so it answers for every type.
        self._types = None if DYNAMIC in workflows else frozenset(workflows)
        self._answering: set[asyncio.Task[None]] = set()

    async def serve(self) -> None:
        """Claim and answer requests until cancelled; the answers under way are cancelled
        with it (their callers time out)."""
        backoff = 0.1
        try:
            with self._store.notifier.subscribe(query_channel(self._task_queue)) as notified:
                while True:
                    # Cleared before looking: a request stored meanwhile still wakes the wait.
                    notified.clear()
                    free = self._concurrency - len(self._answering)
                    try:
                        claimed = await self._store.claim_queries(
                            QueryClaimParams(
                                self._task_queue,
                                self._identity,
                                self._types,
                                tenant_id=self._tenant_id,
                                limit=free,
                            )
                        )
                        backoff = 0.1
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        _log.warning("query claim failed (%s); retrying in %.1fs", exc, backoff)
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, 5.0)
                        continue
                    for request in claimed:
                        task = asyncio.create_task(self._answer(request))
                        self._answering.add(task)
                        task.add_done_callback(self._answered)
                    if claimed and len(claimed) >= free:
                        continue  # more may be waiting
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(notified.wait(), self.poll_interval)
        finally:
            for task in list(self._answering):
                task.cancel()
            for task in list(self._answering):
                with contextlib.suppress(BaseException):
                    await task

    def _answered(self, task: asyncio.Task[None]) -> None:
        self._answering.discard(task)
        # A slot freed: claim again at once (notify the loop through its own channel).
        if len(self._answering) == self._concurrency - 1:
            self._store.notifier.wake(query_channel(self._task_queue))

    async def _answer(self, request: QueryRequest) -> None:
        try:
            answer = await self._ask(request)
        except DeadlockError as exc:
            answer = QueryAnswer(error=f"query {request.name} did not return: {exc}")
        except LookupError:
            answer = QueryAnswer(error=f"run {request.run_id} of {request.workflow_id} is gone")
        except Exception as exc:
            _log.warning(
                "query %s of run %s failed: %s", request.name, request.run_id, error_line(exc)
            )
            answer = QueryAnswer(error=f"query {request.name} failed: {error_line(exc)}")
        try:
            await self._store.answer_query(request.query_id, answer)
        except Exception as exc:  # its caller times out, saying no worker answered
            _log.warning("answer of query %s not written: %s", request.query_id, error_line(exc))

    async def _ask(self, request: QueryRequest) -> QueryAnswer:
        """The answer from the cached instance when it is current, else by replay."""
        defn = lookup(self._workflows, request.workflow_type)
        if defn is None:  # the claim takes only registered types
            return QueryAnswer(error=f"workflow type {request.workflow_type!r} is not registered")
        cached = self._cache.take(request.run_id)
        if cached is not None:
            kept = True
            try:
                row, newer = await self._store.load_history(request.run_id, cached.seen_seq)
                # Current: no task since, and no event it has not seen (a signal that came
                # after its last task is in the answer only after a replay, as on Temporal
                # after the task that delivers it).
                if row.workflow_task_count == cached.task_count and all(
                    e.seq in cached.own_seqs for e in newer
                ):
                    try:
                        return await self._code.run(
                            lambda: answer_query(
                                cached, request.name, request.args, request.header
                            ),
                            after_abandon=cached.dispose,
                        )
                    except DeadlockError:
                        kept = False  # disposed by the thread it froze
                        raise
            finally:
                if kept:
                    self._cache.give_back(request.run_id, cached)
        return await self._replay(defn, request)

    async def _replay(self, defn: WorkflowDefinition, request: QueryRequest) -> QueryAnswer:
        row, history = await self._store.load_history(request.run_id, 0)
        instance = WorkflowInstance(
            defn, workflow_info(row), list(row.input), failure_types=self._failure_types
        )
        if self.inbound_classes:
            instance.chain = WorkflowChain(self.inbound_classes, instance)
        try:
            answer = await self._code.run(
                lambda: replay_and_answer(
                    instance, history, request.name, request.args, request.header
                ),
                progress=lambda: instance.activated_at,
                after_abandon=instance.dispose,
            )
        except DeadlockError:
            raise  # the instance is disposed by the thread it froze
        except BaseException:
            instance.dispose()
            raise
        instance.dispose()
        return answer
