"""The Temporal executor's worker: a temporalio Worker running turnout definitions."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import weakref
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import temporalio.worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from turnout.contracts.errors import ConfigurationError
from turnout.contracts.governance import Policy
from turnout.contracts.shared_state import SharedStateManager, check_activity_executor
from turnout.executors.temporal._client import TemporalClient
from turnout.executors.temporal._definitions import ensure_activity, ensure_workflow, install
from turnout.executors.temporal._governance import admission_activity
from turnout.executors.temporal._interceptors import worker_chain
from turnout.executors.temporal._observability import interceptors_for
from turnout.executors.temporal._runtime import TurnoutInterceptor
from turnout.observability._hooks import guarded
from turnout.workflows._definitions import ActivityDefinition

__all__ = ["SANDBOX_PASSED", "SandboxCheckedOnce", "TemporalWorker", "sandbox_runner"]


class _PassedThrough(set[str]):
    """The modules the sandbox shares with the worker instead of importing them afresh:
    temporalio's defaults, pydantic, SQLAlchemy, OpenTelemetry and turnout's modules
    (the facade's runtime context and the definition hooks must be the same objects
    inside). The contract suite's scenario workflows are the exception: the sandbox
    imports them as it imports a user's workflow module, so they meet its restrictions
    as user code does. Their parent packages are then imported afresh too (temporalio
    asks about each prefix of a module's name); they only re-export shared modules. (The
    samples corpus stays passed through: imported afresh, its package of many modules
    would be imported again for each workflow a worker validates.)"""

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and (name == "turnout" or name.startswith("turnout.")):
            return name not in _SCENARIO_PARENTS and not name.startswith(_SCENARIOS)
        return super().__contains__(name)


_SCENARIOS = "turnout.testing.contract.workflows"
_SCENARIO_PARENTS = frozenset(["turnout", "turnout.testing", "turnout.testing.contract"])


class SandboxCheckedOnce(SandboxedWorkflowRunner):
    """Temporal's sandbox (with :func:`sandbox_runner`'s restrictions), checking each
    workflow class once per process.

    A worker checks every workflow it is given by running the class's module in a fresh
    sandbox (a second or more for a worker of many workflows), with the worker's
    ``workflow_failure_exception_types`` imported there too. With the same restrictions,
    the same class and the same failure types get the same verdict, so a pass is kept for
    that pair and the next worker of the process does not check it again. A class that
    failed is checked again, and fails again."""

    def prepare_workflow(self, defn: Any) -> None:
        failure_types = tuple(self._worker_level_failure_exception_types)
        passed = SANDBOX_PASSED.setdefault(defn.cls, set())
        if failure_types not in passed:
            super().prepare_workflow(defn)
            passed.add(failure_types)


SANDBOX_PASSED: weakref.WeakKeyDictionary[type, set[tuple[type[BaseException], ...]]] = (
    weakref.WeakKeyDictionary()
)
"""Workflow classes the sandbox accepted, each with the failure types it was checked with."""


def sandbox_runner() -> SandboxedWorkflowRunner:
    """Temporal's sandbox, with the modules :class:`_PassedThrough` names passed through."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(
        "pydantic", "sqlalchemy", "opentelemetry"
    )
    passed = _PassedThrough(restrictions.passthrough_modules)
    return SandboxCheckedOnce(
        restrictions=dataclasses.replace(restrictions, passthrough_modules=passed)
    )


class TemporalWorker:
    """Runs turnout workflows and activities on a temporalio worker.

    ``policies`` are consulted before each activity attempt; their decisions are
    recorded on the run (``policy_decided``) through ``client``, whose namespace is
    the tenant's.
    """

    def __init__(
        self,
        client: TemporalClient,
        *,
        task_queue: str,
        workflows: Sequence[type] = (),
        activities: Sequence[Callable[..., Any]] = (),
        max_concurrent_activities: int = 100,
        max_concurrent_workflow_tasks: int = 50,
        activity_executor: concurrent.futures.Executor | None = None,
        shared_state_manager: SharedStateManager | None = None,
        graceful_shutdown_timeout: timedelta = timedelta(seconds=10),
        max_cached_workflows: int = 1000,
        identity: str | None = None,
        policies: Sequence[Policy] = (),
        observer: Any = None,
        debug_mode: bool = False,
        workflow_failure_exception_types: Sequence[type[BaseException]] = (),
        interceptors: Sequence[object] = (),
        **options: Any,
    ) -> None:
        if options:
            raise ConfigurationError(
                f"Worker options {sorted(options)} are not known to the Temporal executor "
                "(they tune the internal executor's queue); remove them when "
                "TURNOUT_EXECUTOR=temporal"
            )
        if not workflows and not activities:
            raise ValueError("a Worker needs at least one workflow or activity")
        activity_defns = [ActivityDefinition.for_worker(fn) for fn in activities]
        install()
        for cls in workflows:
            ensure_workflow(cls)
        for fn in activities:
            ensure_activity(fn)
        client.register_workflows(workflows)
        sync = {d.name: d.fn for d in activity_defns if not d.is_async}
        check_activity_executor(activity_executor, shared_state_manager, sync)
        needs_threads = bool(sync)
        self._own_executor = activity_executor is None and needs_threads
        if self._own_executor:
            activity_executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=max(1, max_concurrent_activities),
                thread_name_prefix="turnout-activity",
            )
        self._executor = activity_executor
        self._worker = temporalio.worker.Worker(
            client.raw,
            task_queue=task_queue,
            workflows=list(workflows),
            activities=[
                *activities,
                *([admission_activity(client, policies)] if policies and workflows else []),
            ],
            activity_executor=activity_executor,
            shared_state_manager=(
                temporalio.worker.SharedStateManager.create_from_multiprocessing(
                    shared_state_manager.manager, shared_state_manager.queue_poller_executor
                )
                if shared_state_manager is not None
                else None
            ),
            interceptors=worker_chain(
                [*interceptors_for(observer), TurnoutInterceptor(client, policies=policies)],
                client.interceptors,
                interceptors,
            ),
            workflow_runner=sandbox_runner(),
            max_concurrent_activities=max_concurrent_activities,
            max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
            max_cached_workflows=max_cached_workflows,
            graceful_shutdown_timeout=graceful_shutdown_timeout,
            identity=identity,
            debug_mode=debug_mode,
            workflow_failure_exception_types=list(workflow_failure_exception_types),
        )
        self._task: asyncio.Task[None] | None = None
        self._client = client
        self._observer = guarded(observer) if observer is not None else None
        self.task_queue = task_queue
        self.identity = identity or client.raw.identity
        self._slots = {
            "workflow_task": max_concurrent_workflow_tasks if workflows else 0,
            "activity_task": max_concurrent_activities if activities else 0,
        }

    @property
    def claiming(self) -> bool:
        """True while the temporalio worker polls."""
        return self._task is not None and not self._task.done()

    reports_slots_in_use = False
    """The slots in use are the SDK's to report (``slots()`` gives them as 0)."""

    def slots(self) -> dict[str, tuple[int, int]]:
        """Slots per kind: in use is the SDK's to report (shown as 0), and all."""
        return {kind: (0, total) for kind, total in self._slots.items()}

    async def check_server(self, timeout: float) -> str:
        """ "ok" when the Temporal server answers its health check within ``timeout``
        seconds, else what went wrong."""
        try:
            async with asyncio.timeout(timeout):
                serving = await self._client.raw.service_client.check_health(
                    timeout=timedelta(seconds=timeout)
                )
        except TimeoutError:
            return f"unreachable: no answer within {timeout:g}s"
        except Exception as exc:
            first = str(exc).strip().splitlines()[:1]
            return f"unreachable: {type(exc).__name__}: {first[0] if first else ''}"
        return "ok" if serving else "not serving"

    async def start(self) -> None:
        """Start polling Temporal."""
        self._task = asyncio.create_task(self._worker.run(), name="turnout-temporal-worker")
        await asyncio.sleep(0)
        if self._observer is not None:
            self._observer.attach(self)

    async def shutdown(self) -> None:
        """Graceful shutdown (activities get the grace period)."""
        if self._task is None:
            return
        if self._observer is not None:
            self._observer.detach(self)
        await self._worker.shutdown()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def run(self) -> None:
        """Run until cancelled."""
        await self.start()
        assert self._task is not None
        try:
            await self._task
        finally:
            await self.shutdown()
