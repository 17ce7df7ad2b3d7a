"""``turnout.workflow``: decorators and functions for workflow code.

The names and semantics follow ``temporalio.workflow`` for the supported
subset, so a module written for temporalio needs only its import changed.
Every function forwards to the runtime of the executor that runs the code.
"""

from __future__ import annotations

import random as _random
import uuid as _uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn, ParamSpec, Protocol, TypeVar, overload

from turnout.contracts.executor import ARG_UNSET, call_args
from turnout.contracts.limits import (
    check_name,
    check_optional_duration,
    check_task_timeout,
    check_timer,
)
from turnout.contracts.memo import check_memo
from turnout.contracts.records import IdReusePolicy, ParentClosePolicy
from turnout.contracts.retry import RetryPolicy
from turnout.contracts.search_attributes import (
    SearchAttributes,
    TypedSearchAttributes,
    check_search_attributes,
)
from turnout.contracts.updates import UpdateInfo
from turnout.workflows._activity_calls import (
    ActivityHandle,
    execute_activity,
    execute_activity_class,
    execute_activity_method,
    request_approval,
    seconds_of,
    start_activity,
    start_activity_class,
    start_activity_method,
)
from turnout.workflows._definitions import (
    WorkflowDefinition,
    define_workflow,
    mark_init,
    mark_query,
    mark_run,
    mark_signal,
    mark_update,
)
from turnout.workflows._external import (
    ExternalWorkflowHandle,
    get_external_workflow_handle,
    get_external_workflow_handle_for,
)
from turnout.workflows._handlers import (
    get_dynamic_query_handler,
    get_dynamic_signal_handler,
    get_dynamic_update_handler,
    get_query_handler,
    get_signal_handler,
    get_update_handler,
    payload_converter,
    set_dynamic_query_handler,
    set_dynamic_signal_handler,
    set_dynamic_update_handler,
    set_query_handler,
    set_signal_handler,
    set_update_handler,
)
from turnout.workflows._local_activity_calls import (
    execute_local_activity,
    execute_local_activity_class,
    execute_local_activity_method,
    start_local_activity,
    start_local_activity_class,
    start_local_activity_method,
)
from turnout.workflows._logging import logger
from turnout.workflows._memo import memo, memo_value, upsert_memo, upsert_search_attributes
from turnout.workflows._runtime import (
    ActivityCancellationType,
    ChildWorkflowOptions,
    NotInWorkflowError,
    ParentInfo,
    WorkflowInfo,
    current_workflow_runtime,
    in_workflow,
)
from turnout.workflows._unsafe import unsafe
from turnout.workflows._waiting import as_completed, wait

__all__ = [
    "ActivityCancellationType",
    "ActivityHandle",
    "ExternalWorkflowHandle",
    "Info",
    "NotInWorkflowError",
    "ParentClosePolicy",
    "ParentInfo",
    "UpdateInfo",
    "UpdateMethod",
    "all_handlers_finished",
    "as_completed",
    "continue_as_new",
    "current_update_info",
    "defn",
    "deprecate_patch",
    "execute_activity",
    "execute_activity_class",
    "execute_activity_method",
    "execute_child_workflow",
    "execute_local_activity",
    "execute_local_activity_class",
    "execute_local_activity_method",
    "get_dynamic_query_handler",
    "get_dynamic_signal_handler",
    "get_dynamic_update_handler",
    "get_external_workflow_handle",
    "get_external_workflow_handle_for",
    "get_query_handler",
    "get_signal_handler",
    "get_update_handler",
    "in_workflow",
    "info",
    "init",
    "logger",
    "memo",
    "memo_value",
    "now",
    "patched",
    "payload_converter",
    "query",
    "random",
    "request_approval",
    "run",
    "set_dynamic_query_handler",
    "set_dynamic_signal_handler",
    "set_dynamic_update_handler",
    "set_query_handler",
    "set_signal_handler",
    "set_update_handler",
    "signal",
    "sleep",
    "start_activity",
    "start_activity_class",
    "start_activity_method",
    "start_child_workflow",
    "start_local_activity",
    "start_local_activity_class",
    "start_local_activity_method",
    "unsafe",
    "update",
    "upsert_memo",
    "upsert_search_attributes",
    "uuid4",
    "wait",
    "wait_condition",
]

Info = WorkflowInfo
ClassT = TypeVar("ClassT", bound=type)
FnT = TypeVar("FnT", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


@overload
def defn(cls: ClassT) -> ClassT: ...
@overload
def defn(
    *,
    name: str | None = None,
    sandboxed: bool = True,
    dynamic: bool = False,
    failure_exception_types: Sequence[type[BaseException]] = (),
) -> Callable[[ClassT], ClassT]: ...
def defn(
    cls: ClassT | None = None,
    *,
    name: str | None = None,
    sandboxed: bool = True,
    dynamic: bool = False,
    failure_exception_types: Sequence[type[BaseException]] = (),
) -> ClassT | Callable[[ClassT], ClassT]:
    """Declare a workflow class; ``name`` is its stable type name (default: the class name).

    ``dynamic=True`` (without a name) runs every workflow type no other registered
    workflow has: its run method takes ``args: Sequence[RawValue]`` and
    ``workflow.info().workflow_type`` names the type it was started as.

    The class needs exactly one ``@workflow.run`` async method. ``sandboxed`` is
    passed to executors that sandbox workflow code (Temporal). An exception of one of
    ``failure_exception_types`` raised by the workflow's code fails the workflow, as an
    ``ApplicationError`` does, instead of failing the workflow task (retried, the run
    left open) as other exceptions do.
    """

    def decorate(klass: ClassT) -> ClassT:
        klass.__turnout_sandboxed__ = sandboxed  # type: ignore[attr-defined]
        define_workflow(
            klass, name, failure_exception_types=tuple(failure_exception_types), dynamic=dynamic
        )
        return klass

    return decorate(cls) if cls is not None else decorate


def init(init_fn: FnT) -> FnT:
    """Mark ``__init__`` as taking the workflow's input: the object is then made with the
    run method's arguments, whose parameters ``__init__`` must repeat exactly."""
    return mark_init(init_fn)  # type: ignore[no-any-return]


def run(fn: FnT) -> FnT:
    """Mark the workflow's entry point (an ``async def`` method)."""
    return mark_run(fn)  # type: ignore[no-any-return]


@overload
def signal(fn: FnT) -> FnT: ...
@overload
def signal(*, name: str | None = None, dynamic: bool = False) -> Callable[[FnT], FnT]: ...
def signal(
    fn: FnT | None = None, *, name: str | None = None, dynamic: bool = False
) -> FnT | Callable[[FnT], FnT]:
    """Mark a method as a signal handler (sync or async); ``name`` defaults to the method
    name. ``dynamic=True``: it takes ``(name: str, args: Sequence[RawValue])`` and gets
    every signal no named handler takes."""
    if fn is not None:
        return mark_signal(fn, name, dynamic)  # type: ignore[no-any-return]
    return lambda f: mark_signal(f, name, dynamic)


class UpdateMethod(Protocol[P, R_co]):
    """What ``@workflow.update`` makes of a method: the method, plus ``validator``."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def validator(self, fn: Callable[P, None]) -> Callable[P, None]:
        """Mark ``fn`` (a plain ``def`` with the handler's parameters) as the validator."""
        ...


@overload
def update(fn: Callable[P, R]) -> UpdateMethod[P, R]: ...
@overload
def update(
    *, name: str | None = None, dynamic: bool = False
) -> Callable[[Callable[P, R]], UpdateMethod[P, R]]: ...
def update(
    fn: Callable[P, R] | None = None, *, name: str | None = None, dynamic: bool = False
) -> Any:
    """Mark a method as an update handler (sync or async); ``name`` defaults to the method
    name. ``@method.validator`` marks a plain ``def`` with the same parameters that runs
    first and rejects the update by raising; an accepted update's handler returns its
    result (or raises ``ApplicationError`` to fail it, leaving the workflow running).
    ``dynamic=True``: as ``signal``'s, for updates."""
    if fn is not None:
        return mark_update(fn, name, dynamic)
    return lambda f: mark_update(f, name, dynamic)


def current_update_info() -> UpdateInfo | None:
    """The update whose handler (or validator) is running, or None outside one."""
    return current_workflow_runtime().current_update_info()


@overload
def query(fn: FnT) -> FnT: ...
@overload
def query(*, name: str | None = None, dynamic: bool = False) -> Callable[[FnT], FnT]: ...
def query(
    fn: FnT | None = None, *, name: str | None = None, dynamic: bool = False
) -> FnT | Callable[[FnT], FnT]:
    """Mark a (sync) method as a query handler; ``name`` defaults to the method name.
    ``dynamic=True``: as ``signal``'s, for queries."""
    if fn is not None:
        return mark_query(fn, name, dynamic)  # type: ignore[no-any-return]
    return lambda f: mark_query(f, name, dynamic)


def info() -> WorkflowInfo:
    """The current run's workflow id, run id, type, task queue, attempt, ..."""
    return current_workflow_runtime().info()


def now() -> datetime:
    """Workflow time (UTC): the time of the current workflow task, the same on replay."""
    return current_workflow_runtime().now()


def random() -> _random.Random:
    """A deterministic random generator, seeded per run."""
    return current_workflow_runtime().random()


def uuid4() -> _uuid.UUID:
    """A deterministic UUID (the same on replay)."""
    return current_workflow_runtime().uuid4()


def patched(patch_id: str) -> bool:
    """True on new code paths; False while replaying history recorded before the patch."""
    return current_workflow_runtime().patched(patch_id)


def deprecate_patch(patch_id: str) -> None:
    """Declare that every run recorded before ``patch_id`` has closed."""
    current_workflow_runtime().deprecate_patch(patch_id)


async def sleep(duration: float | timedelta) -> None:
    """A durable timer: survives worker restarts (``asyncio.sleep`` works the same).

    A NaN, infinite or longer than 100 years ``duration`` raises ``InvalidInputError``."""
    await current_workflow_runtime().sleep(check_timer(seconds_of(duration), "workflow.sleep"))


async def wait_condition(
    fn: Callable[[], bool], *, timeout: float | timedelta | None = None
) -> None:
    """Wait until ``fn()`` is true; raise ``asyncio.TimeoutError`` after ``timeout``."""
    seconds = (
        None if timeout is None else check_timer(seconds_of(timeout), "wait_condition timeout")
    )
    await current_workflow_runtime().wait_condition(fn, seconds)


def all_handlers_finished() -> bool:
    """True when no signal handler is still running; before returning, a workflow can
    ``await workflow.wait_condition(workflow.all_handlers_finished)``."""
    return current_workflow_runtime().all_handlers_finished()


def _workflow_result_type(workflow: Any, result_type: Any) -> Any:
    if result_type is not None:
        return result_type
    defn = WorkflowDefinition.from_run_fn(workflow) if callable(workflow) else None
    return defn.return_type if defn else Any


async def start_child_workflow(
    workflow: Callable[..., Any] | str,
    arg: Any = ARG_UNSET,
    *,
    args: Sequence[Any] = (),
    id: str | None = None,
    task_queue: str | None = None,
    execution_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    result_type: Any = None,
    id_reuse_policy: IdReusePolicy = IdReusePolicy.ALLOW_DUPLICATE,
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.TERMINATE,
    memo: Mapping[str, Any] | None = None,
    search_attributes: TypedSearchAttributes | SearchAttributes | None = None,
) -> Any:
    """Start a child workflow; returns a handle to await for its result.

    ``id_reuse_policy`` says whether the child may take an id whose earlier run closed;
    ``parent_close_policy`` what happens to the child, still open, when this run closes
    (terminated by default, as on Temporal); ``memo`` is the child's memo and
    ``search_attributes`` its search attributes."""
    if isinstance(workflow, str):
        check_name(workflow, "the child workflow type", example="Checkout")
    if id is not None:
        check_name(id, "the child workflow id", example="order-42")
    if task_queue is not None:
        check_name(task_queue, "the child workflow's task_queue")
    options = ChildWorkflowOptions(
        id=id,
        task_queue=task_queue,
        execution_timeout=check_optional_duration(execution_timeout, "execution_timeout"),
        task_timeout=check_task_timeout(task_timeout),
        retry_policy=retry_policy,
        id_reuse_policy=IdReusePolicy(id_reuse_policy),
        parent_close_policy=ParentClosePolicy(parent_close_policy),
        memo=check_memo(memo, "the child workflow's memo"),
        search_attributes=check_search_attributes(
            search_attributes, "the child workflow's search attributes"
        ),
    )
    return await current_workflow_runtime().start_child_workflow(
        workflow, call_args(arg, args), options, _workflow_result_type(workflow, result_type)
    )


async def execute_child_workflow(
    workflow: Callable[..., Any] | str,
    arg: Any = ARG_UNSET,
    *,
    args: Sequence[Any] = (),
    id: str | None = None,
    task_queue: str | None = None,
    execution_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    result_type: Any = None,
    id_reuse_policy: IdReusePolicy = IdReusePolicy.ALLOW_DUPLICATE,
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.TERMINATE,
    memo: Mapping[str, Any] | None = None,
    search_attributes: TypedSearchAttributes | SearchAttributes | None = None,
) -> Any:
    """Run a child workflow and return its result; failures raise ``ChildWorkflowError``."""
    handle = await start_child_workflow(
        workflow,
        arg,
        args=args,
        id=id,
        task_queue=task_queue,
        execution_timeout=execution_timeout,
        task_timeout=task_timeout,
        retry_policy=retry_policy,
        result_type=result_type,
        id_reuse_policy=id_reuse_policy,
        parent_close_policy=parent_close_policy,
        memo=memo,
        search_attributes=search_attributes,
    )
    return await handle


def continue_as_new(
    arg: Any = ARG_UNSET, *, args: Sequence[Any] = (), workflow: Any = None
) -> NoReturn:
    """End this run and start a fresh one with new input (and empty history)."""
    current_workflow_runtime().continue_as_new(workflow, call_args(arg, args))
