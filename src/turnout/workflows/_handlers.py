"""Handlers set while a workflow runs, as temporalio's ``workflow.set_signal_handler``,
``set_query_handler`` and ``set_update_handler`` and their getters. ``turnout.workflow``
re-exports these; they forward to the runtime of the executor that runs the code.

A handler set for a name replaces the class's handler of that name; None removes it.
Signals that arrived before a signal handler of their name existed wait, and reach the
handler once it is set. The dynamic handler (``set_dynamic_*_handler``) takes what no
named handler takes, as ``(name, args: Sequence[RawValue])``; once it is set, every
signal still waiting reaches it. The runtimes keep it under the empty name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turnout.contracts.limits import check_name
from turnout.contracts.payloads import PayloadConverter
from turnout.workflows._dynamic import DYNAMIC
from turnout.workflows._runtime import current_workflow_runtime

__all__ = [
    "get_dynamic_query_handler",
    "get_dynamic_signal_handler",
    "get_dynamic_update_handler",
    "get_query_handler",
    "get_signal_handler",
    "get_update_handler",
    "payload_converter",
    "set_dynamic_query_handler",
    "set_dynamic_signal_handler",
    "set_dynamic_update_handler",
    "set_query_handler",
    "set_signal_handler",
    "set_update_handler",
]


def _set(
    kind: str,
    name: str,
    handler: Callable[..., Any] | None,
    validator: Callable[..., Any] | None = None,
) -> None:
    check_name(name, f"a {kind} name", example="approve")
    current_workflow_runtime().set_handler(kind, name, handler, validator)


def set_signal_handler(name: str, handler: Callable[..., Any] | None) -> None:
    """Handle the signal ``name`` with ``handler`` (sync or async); None removes it."""
    _set("signal", name, handler)


def set_query_handler(name: str, handler: Callable[..., Any] | None) -> None:
    """Answer the query ``name`` with ``handler`` (a plain ``def``); None removes it."""
    _set("query", name, handler)


def set_update_handler(
    name: str,
    handler: Callable[..., Any] | None,
    *,
    validator: Callable[..., Any] | None = None,
) -> None:
    """Handle the update ``name`` with ``handler``, ``validator`` first; None removes it."""
    _set("update", name, handler, validator)


def get_signal_handler(name: str) -> Callable[..., Any] | None:
    """The handler of the signal ``name`` (set at run time, or the class's), or None."""
    return current_workflow_runtime().get_handler("signal", name)


def get_query_handler(name: str) -> Callable[..., Any] | None:
    """The handler of the query ``name``, or None."""
    return current_workflow_runtime().get_handler("query", name)


def get_update_handler(name: str) -> Callable[..., Any] | None:
    """The handler of the update ``name``, or None."""
    return current_workflow_runtime().get_handler("update", name)


def set_dynamic_signal_handler(handler: Callable[..., Any] | None) -> None:
    """Handle every signal no named handler takes with ``handler(name, args)`` (``args``:
    ``Sequence[RawValue]``); signals waiting for a handler reach it now. None removes it."""
    current_workflow_runtime().set_handler("signal", DYNAMIC, handler, None)


def set_dynamic_query_handler(handler: Callable[..., Any] | None) -> None:
    """Answer every query no named handler takes with ``handler(name, args)``."""
    current_workflow_runtime().set_handler("query", DYNAMIC, handler, None)


def set_dynamic_update_handler(
    handler: Callable[..., Any] | None, *, validator: Callable[..., Any] | None = None
) -> None:
    """Handle every update no named handler takes with ``handler(name, args)``,
    ``validator(name, args)`` first."""
    current_workflow_runtime().set_handler("update", DYNAMIC, handler, validator)


def get_dynamic_signal_handler() -> Callable[..., Any] | None:
    """The dynamic signal handler (set at run time, or the class's), or None."""
    return current_workflow_runtime().get_handler("signal", DYNAMIC)


def get_dynamic_query_handler() -> Callable[..., Any] | None:
    """The dynamic query handler, or None."""
    return current_workflow_runtime().get_handler("query", DYNAMIC)


def get_dynamic_update_handler() -> Callable[..., Any] | None:
    """The dynamic update handler, or None."""
    return current_workflow_runtime().get_handler("update", DYNAMIC)


def payload_converter() -> PayloadConverter:
    """The converter of the executor running the workflow: ``from_payload(raw.payload,
    MyType)`` converts a RawValue a dynamic workflow or handler was given."""
    return current_workflow_runtime().payload_converter()
