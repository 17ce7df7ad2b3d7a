"""The runtimes the authoring facade dispatches to, found in context variables.

The internal engine and the Temporal adapter each implement
:class:`WorkflowRuntime` and :class:`ActivityRuntime` and set them in the
context while they run user code; ``turnout.workflow.*`` and
``turnout.activity.*`` forward every call to whichever is current.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from turnout.contracts.records import Artifact
from turnout.contracts.search_attributes import TypedSearchAttributes
from turnout.contracts.updates import UpdateInfo

if TYPE_CHECKING:
    from turnout.contracts.payloads import PayloadConverter
    from turnout.contracts.records import (
        IdReusePolicy,
        ParentClosePolicy,
        PolicyDecision,
    )
    from turnout.contracts.retry import RetryPolicy

__all__ = [
    "ActivityCancellationType",
    "ActivityInfo",
    "ActivityOptions",
    "ActivityRuntime",
    "ArtifactSpec",
    "ChildWorkflowOptions",
    "CompleteAsyncError",
    "LocalActivityOptions",
    "NotInActivityError",
    "NotInWorkflowError",
    "ParentInfo",
    "WorkflowInfo",
    "WorkflowRuntime",
    "add_workflow_runtime_finder",
    "current_activity_runtime",
    "current_workflow_runtime",
]


class NotInWorkflowError(RuntimeError):
    """A ``workflow.*`` function was called outside workflow code."""


class NotInActivityError(RuntimeError):
    """An ``activity.*`` function was called outside an activity."""


class CompleteAsyncError(BaseException):
    """Raised by ``activity.raise_complete_async()``: the attempt ends without a result
    and the activity stays open, to be completed through an async activity handle.
    A BaseException, so that ``except Exception`` in activity code lets it through."""


@dataclass(frozen=True)
class ParentInfo:
    """The parent of a child workflow."""

    workflow_id: str
    run_id: str
    namespace: str = "default"


@dataclass(frozen=True)
class WorkflowInfo:
    """What a workflow knows about its own run (``workflow.info()``)."""

    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    attempt: int
    start_time: datetime
    namespace: str = "default"
    correlation_id: str = ""
    tenant_id: str = "default"
    continued_run_id: str | None = None
    parent: ParentInfo | None = None
    execution_timeout: timedelta | None = None
    task_timeout: timedelta | None = None
    """How long a worker may hold one of the run's workflow tasks: the run's
    ``task_timeout``, else the executor's default (Temporal's 10 s; on the internal
    executor the worker's ``workflow_task_lease``)."""
    typed_search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty
    """The run's search attributes now: its start's, with its upserts so far."""
    cron_schedule: str | None = None
    """A cron workflow's schedule (None for other runs)."""

    @property
    def search_attributes(self) -> dict[str, list[Any]]:
        """The search attributes untyped, each name to a list of values (temporalio's
        deprecated form of :attr:`typed_search_attributes`)."""
        return {
            pair.key.name: list(pair.value) if isinstance(pair.value, list) else [pair.value]
            for pair in self.typed_search_attributes
        }

    # temporalio's Info methods about the history so far: they ask the running executor.
    def get_current_history_length(self) -> int:
        """How many events the run's history had when the current workflow task began (the
        same on replay). Each executor counts its own events, so the numbers differ."""
        return current_workflow_runtime().history_length()

    def get_current_history_size(self) -> int:
        """The history's size in bytes so far, as the executor measures it."""
        return current_workflow_runtime().history_size()

    def is_continue_as_new_suggested(self) -> bool:
        """True once the history is long or large enough that the run should continue as
        new (Temporal's server decides on Temporal; the internal executor suggests it past
        4,096 events). The same on replay."""
        return current_workflow_runtime().continue_as_new_suggested()


@dataclass(frozen=True)
class ActivityInfo:
    """What an activity knows about its own execution (``activity.info()``)."""

    activity_id: str
    activity_type: str
    attempt: int
    workflow_id: str
    workflow_run_id: str
    workflow_type: str
    task_queue: str
    scheduled_time: datetime
    started_time: datetime
    heartbeat_details: Sequence[Any] = ()
    start_to_close_timeout: timedelta | None = None
    schedule_to_close_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    correlation_id: str = ""
    tenant_id: str = "default"
    is_local: bool = False
    workflow_namespace: str = "default"
    task_token: bytes = b""
    """What identifies this attempt to ``client.get_async_activity_handle(task_token=...)``
    (opaque bytes)."""


class ActivityCancellationType(StrEnum):
    """What cancelling an activity's await does (temporalio's names; ``TRY_CANCEL`` is
    the default)."""

    TRY_CANCEL = "try_cancel"
    """Ask the activity to cancel; the await raises at once."""
    WAIT_CANCELLATION_COMPLETED = "wait_cancellation_completed"
    """Ask the activity to cancel; the await raises once the activity has stopped (it
    learns of the request at a heartbeat), or returns its result if it finished first."""
    ABANDON = "abandon"
    """Do not tell the activity; the await raises at once and its outcome is ignored."""


@dataclass(frozen=True)
class ActivityOptions:
    """Options of one ``execute_activity`` / ``start_activity`` call."""

    task_queue: str | None = None
    schedule_to_close_timeout: timedelta | None = None
    schedule_to_start_timeout: timedelta | None = None
    start_to_close_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    retry_policy: RetryPolicy | None = None
    activity_id: str | None = None
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL


@dataclass(frozen=True)
class LocalActivityOptions:
    """Options of one ``execute_local_activity`` / ``start_local_activity`` call."""

    schedule_to_close_timeout: timedelta | None = None
    schedule_to_start_timeout: timedelta | None = None
    start_to_close_timeout: timedelta | None = None
    retry_policy: RetryPolicy | None = None
    local_retry_threshold: timedelta | None = None
    activity_id: str | None = None
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL


@dataclass(frozen=True)
class ChildWorkflowOptions:
    """Options of one ``execute_child_workflow`` / ``start_child_workflow`` call."""

    id: str | None = None
    task_queue: str | None = None
    execution_timeout: timedelta | None = None
    task_timeout: timedelta | None = None
    retry_policy: RetryPolicy | None = None
    id_reuse_policy: IdReusePolicy | None = None
    parent_close_policy: ParentClosePolicy | None = None
    memo: dict[str, Any] | None = None
    """The child's memo, its values JSON (checked by the caller)."""
    search_attributes: dict[str, Any] | None = None
    """The child's search attributes in the stored form (checked by the caller)."""
    extra: dict[str, Any] = field(default_factory=dict)


current_update: ContextVar[UpdateInfo | None] = ContextVar("turnout_current_update", default=None)
"""The update whose handler (or validator) runs in this context, on the internal executor."""


class WorkflowRuntime(Protocol):
    """What the running executor offers workflow code."""

    def info(self) -> WorkflowInfo: ...
    def now(self) -> datetime: ...
    def random(self) -> random.Random: ...
    def uuid4(self) -> uuid.UUID: ...
    def logger(self) -> logging.LoggerAdapter[logging.Logger]: ...
    async def sleep(self, seconds: float) -> None: ...
    async def wait_condition(self, fn: Callable[[], bool], timeout: float | None) -> None: ...
    def start_activity(
        self, activity: Any, args: Sequence[Any], options: ActivityOptions, result_type: Any
    ) -> Awaitable[Any]: ...
    def start_local_activity(
        self, activity: Any, args: Sequence[Any], options: LocalActivityOptions, result_type: Any
    ) -> Awaitable[Any]: ...
    async def start_child_workflow(
        self, workflow: Any, args: Sequence[Any], options: ChildWorkflowOptions, result_type: Any
    ) -> Any: ...
    def continue_as_new(self, workflow: Any, args: Sequence[Any]) -> NoReturn: ...
    async def signal_external_workflow(
        self, workflow_id: str, run_id: str | None, signal: str, args: Sequence[Any]
    ) -> None: ...
    async def cancel_external_workflow(self, workflow_id: str, run_id: str | None) -> None: ...
    def patched(self, patch_id: str) -> bool: ...
    def deprecate_patch(self, patch_id: str) -> None: ...
    def is_replaying(self) -> bool: ...
    def all_handlers_finished(self) -> bool: ...
    def current_update_info(self) -> UpdateInfo | None: ...
    def set_handler(
        self,
        kind: str,
        name: str,
        handler: Callable[..., Any] | None,
        validator: Callable[..., Any] | None,
    ) -> None: ...
    def get_handler(self, kind: str, name: str) -> Callable[..., Any] | None: ...
    def in_sandbox(self) -> bool: ...
    def is_read_only(self) -> bool: ...
    def history_length(self) -> int: ...
    def history_size(self) -> int: ...
    def continue_as_new_suggested(self) -> bool: ...
    def payload_converter(self) -> PayloadConverter: ...
    def memo(self) -> dict[str, Any]: ...
    def upsert_memo(self, updates: dict[str, Any]) -> None: ...
    def upsert_search_attributes(self, updates: dict[str, Any]) -> None: ...
    async def request_approval(
        self, name: str, details: dict[str, Any], timeout: float | None
    ) -> PolicyDecision: ...


class ActivityRuntime(Protocol):
    """What the running executor offers activity code."""

    def info(self) -> ActivityInfo: ...
    def heartbeat(self, *details: Any) -> None: ...
    def is_cancelled(self) -> bool: ...
    async def wait_for_cancelled(self) -> None: ...
    def wait_for_cancelled_sync(self, timeout: float | None) -> bool: ...
    def raise_complete_async(self) -> NoReturn: ...
    def client(self) -> Any: ...
    def logger(self) -> logging.LoggerAdapter[logging.Logger]: ...
    async def record_artifact(self, artifact: ArtifactSpec) -> Artifact: ...


@dataclass(frozen=True)
class ArtifactSpec:
    """What ``activity.record_artifact`` was given."""

    name: str
    uri: str
    media_type: str = "application/octet-stream"
    size: int | None = None
    digest: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def recorded(
        self,
        *,
        run_id: str,
        workflow_id: str,
        tenant_id: str,
        activity_type: str,
        created_at: datetime | None = None,
    ) -> Artifact:
        """The artifact this spec describes, recorded by activity ``activity_type`` of the
        run ``run_id`` at ``created_at`` (default: now), with a fresh artifact id; the
        activity type joins its attributes. Every executor's ``record_artifact`` can
        build its record here."""
        return Artifact(
            artifact_id=uuid.uuid4().hex,
            run_id=run_id,
            workflow_id=workflow_id,
            tenant_id=tenant_id,
            name=self.name,
            uri=self.uri,
            media_type=self.media_type,
            size_bytes=self.size,
            digest=self.digest,
            created_at=created_at or datetime.now(UTC),
            attributes={**self.attributes, "activity_type": activity_type},
        )


_workflow_runtime: ContextVar[WorkflowRuntime | None] = ContextVar(
    "turnout_workflow_runtime", default=None
)
_activity_runtime: ContextVar[ActivityRuntime | None] = ContextVar(
    "turnout_activity_runtime", default=None
)


_workflow_runtime_finders: list[Callable[[], WorkflowRuntime | None]] = []


def add_workflow_runtime_finder(finder: Callable[[], WorkflowRuntime | None]) -> None:
    """Have ``finder`` asked for the runtime when none is set in the context.

    An executor whose SDK runs some workflow code outside the calls it wraps (Temporal
    makes the workflow object, ``__init__`` included, before the run starts) installs a
    finder that recognises its own workflow code. Adding the same finder twice has no
    effect.
    """
    if finder not in _workflow_runtime_finders:
        _workflow_runtime_finders.append(finder)


def _find_workflow_runtime() -> WorkflowRuntime | None:
    runtime = _workflow_runtime.get()
    if runtime is None:
        for finder in _workflow_runtime_finders:
            runtime = finder()
            if runtime is not None:
                break
    return runtime


def current_workflow_runtime() -> WorkflowRuntime:
    """The runtime of the workflow being executed, or NotInWorkflowError."""
    runtime = _find_workflow_runtime()
    if runtime is None:
        raise NotInWorkflowError(
            "not in workflow code: workflow.* functions work only inside a workflow run by a Worker"
        )
    return runtime


def current_activity_runtime() -> ActivityRuntime:
    """The runtime of the activity being executed, or NotInActivityError."""
    runtime = _activity_runtime.get()
    if runtime is None:
        raise NotInActivityError(
            "not in an activity: activity.* functions work only inside an activity run by a Worker"
        )
    return runtime


def in_workflow() -> bool:
    """True inside workflow code."""
    return _find_workflow_runtime() is not None


def set_workflow_runtime(runtime: WorkflowRuntime | None) -> Any:
    """Make ``runtime`` current; returns a token for :func:`reset_workflow_runtime`."""
    return _workflow_runtime.set(runtime)


def reset_workflow_runtime(token: Any) -> None:
    """Undo :func:`set_workflow_runtime`."""
    _workflow_runtime.reset(token)


def set_activity_runtime(runtime: ActivityRuntime | None) -> Any:
    """Make ``runtime`` current; returns a token for :func:`reset_activity_runtime`."""
    return _activity_runtime.set(runtime)


def reset_activity_runtime(token: Any) -> None:
    """Undo :func:`set_activity_runtime`."""
    _activity_runtime.reset(token)
