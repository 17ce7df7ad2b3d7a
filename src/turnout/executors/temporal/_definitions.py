"""Temporal definitions attached to turnout's classes and functions.

temporalio's sandbox re-imports the user's workflow module and reads the
temporalio definition off the class found there, so the definition must be
attached by the user's own ``@workflow.defn`` when it runs. :func:`install`
adds a hook to turnout's decorators (turnout's modules are passed through the
sandbox, so the hook is there too); :func:`ensure_workflow` /
:func:`ensure_activity` attach definitions to classes decorated before that.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import temporalio.activity
import temporalio.workflow

from turnout.executors.temporal._dynamic import declare_handler, temporalio_hints
from turnout.workflows._definitions import (
    ActivityDefinition,
    WorkflowDefinition,
    add_definition_hook,
)
from turnout.workflows._unsafe import add_pass_through_provider, add_unrestricted_provider

__all__ = ["ensure_activity", "ensure_workflow", "install"]

_TEMPORAL_WORKFLOW = "__temporal_workflow_definition"
_TEMPORAL_ACTIVITY = "__temporal_activity_definition"


def _attach_workflow(cls: type, defn: WorkflowDefinition) -> None:
    if _TEMPORAL_WORKFLOW in vars(cls):
        return
    if defn.init_fn is not None:
        temporalio.workflow.init(defn.init_fn)
    temporalio.workflow.run(defn.run_fn)
    for handler in defn.signals.values():
        declare_handler("signal", handler)
    for handler in defn.queries.values():
        declare_handler("query", handler)
    for handler in defn.updates.values():
        update = declare_handler("update", handler)
        if handler.validator is not None:
            update.validator(handler.validator)
    sandboxed = bool(getattr(cls, "__turnout_sandboxed__", True))
    failure_types = list(defn.failure_exception_types)
    if not defn.dynamic:
        temporalio.workflow.defn(
            name=defn.name, sandboxed=sandboxed, failure_exception_types=failure_types
        )(cls)
        return
    # temporalio's typing leaves failure_exception_types out of its dynamic form (there
    # they are for @workflow.dynamic_config); its decorator takes them all the same.
    with temporalio_hints(defn.run_fn, 1), temporalio_hints(defn.init_fn, 1):
        temporalio.workflow.defn(  # type: ignore[call-overload]
            dynamic=True, sandboxed=sandboxed, failure_exception_types=failure_types
        )(cls)


def _attach_activity(fn: Callable[..., Any], defn: ActivityDefinition) -> None:
    if getattr(fn, _TEMPORAL_ACTIVITY, None) is None:
        # On what the decorator saw: the function or the class, not a bound method or an
        # instance (temporalio reads its definition through those, as turnout does).
        declared = _declared(fn)
        if not defn.dynamic:
            temporalio.activity.defn(name=defn.name)(declared)
            return
        with temporalio_hints(declared, 1):
            temporalio.activity.defn(dynamic=True)(declared)


def _declared(fn: Any) -> Any:
    if inspect.ismethod(fn):
        return fn.__func__
    if inspect.isfunction(fn) or inspect.isclass(fn):
        return fn
    return type(fn)


@contextlib.contextmanager
def _passed_through() -> Iterator[None]:
    with temporalio.workflow.unsafe.imports_passed_through():
        yield


def install() -> None:
    """Hook turnout's decorators so every definition also gets temporalio's (idempotent)."""
    add_definition_hook(workflow=_attach_workflow, activity=_attach_activity)
    add_pass_through_provider(_passed_through)
    add_unrestricted_provider(temporalio.workflow.unsafe.sandbox_unrestricted)


def ensure_workflow(cls: type) -> None:
    """Attach the temporalio definition to a turnout workflow class."""
    _attach_workflow(cls, WorkflowDefinition.must_from_class(cls))


def ensure_activity(fn: Callable[..., Any]) -> None:
    """Attach the temporalio definition to a turnout activity."""
    _attach_activity(fn, ActivityDefinition.must_from_callable(fn))
