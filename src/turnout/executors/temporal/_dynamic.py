"""Handlers and dynamic definitions on Temporal, through temporalio's own API.

turnout's dynamic definitions take ``Sequence[turnout.common.RawValue]``; temporalio's
decorators insist on ``Sequence[temporalio.common.RawValue]`` when they read the type
hints, and hand the code temporalio's RawValues (which ``workflow.payload_converter()``,
temporalio's there, converts). So a dynamic definition is declared to temporalio while
its hints read as temporalio's: for the duration of the decorator call on a function
(at decoration, when nothing else runs it), or through a wrapper for a handler set at run
time (on a function other runs may be calling).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeAlias

import temporalio.common
import temporalio.workflow

from turnout.workflows._definitions import HandlerDefinition, runtime_handler
from turnout.workflows._dynamic import DYNAMIC

__all__ = ["declare_handler", "get_handler", "set_handler", "temporalio_hints"]

_RAW_ARGS: TypeAlias = Sequence[temporalio.common.RawValue]
_ORIGINAL = "__turnout_handler__"
"""On the wrapper of a handler set at run time: the handler the code gave."""

_DECORATORS: dict[str, Any] = {
    "signal": temporalio.workflow.signal,
    "query": temporalio.workflow.query,
    "update": temporalio.workflow.update,
}


@contextlib.contextmanager
def temporalio_hints(fn: Any, count: int) -> Iterator[None]:
    """While in the block, the last ``count`` parameters of ``fn`` (a function, method or
    callable class) are hinted as temporalio wants a dynamic definition's: ``(args:
    Sequence[RawValue])``, or ``(name: str, args: Sequence[RawValue])``. turnout checked
    the shape when it was decorated."""
    if fn is None:
        yield
        return
    target = fn.__call__ if inspect.isclass(fn) else fn
    target = getattr(target, "__func__", target)
    names = list(inspect.signature(target).parameters)[-count:]
    original = dict(target.__annotations__)
    hints = [str, _RAW_ARGS][-count:]
    target.__annotations__ = {**original, **dict(zip(names, hints, strict=True))}
    try:
        yield
    finally:
        target.__annotations__ = original


def declare_handler(kind: str, handler: HandlerDefinition) -> Any:
    """Declare a workflow class's handler to temporalio (``@workflow.signal`` and kin)."""
    decorator = _DECORATORS[kind]
    if not handler.dynamic:
        return decorator(name=handler.name)(handler.fn)
    with temporalio_hints(handler.fn, 2):
        return decorator(dynamic=True)(handler.fn)


def _hinted(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A dynamic handler set at run time, as temporalio takes it."""
    if inspect.iscoroutinefunction(handler):

        async def call_async(name: str, args: _RAW_ARGS) -> Any:
            return await handler(name, args)

        wrapper: Callable[..., Any] = call_async
    else:

        def call(name: str, args: _RAW_ARGS) -> Any:
            return handler(name, args)

        wrapper = call
    setattr(wrapper, _ORIGINAL, handler)
    return wrapper


def set_handler(
    kind: str,
    name: str,
    handler: Callable[..., Any] | None,
    validator: Callable[..., Any] | None,
) -> None:
    """``workflow.set_*_handler`` and ``set_dynamic_*_handler`` (``name`` empty)."""
    if name == DYNAMIC:
        if handler is not None:  # turnout checks its shape, then temporalio the wrapper's
            runtime_handler(DYNAMIC, handler, validator)
            handler = _hinted(handler)
        if kind == "signal":
            temporalio.workflow.set_dynamic_signal_handler(handler)
        elif kind == "query":
            temporalio.workflow.set_dynamic_query_handler(handler)
        else:
            temporalio.workflow.set_dynamic_update_handler(handler, validator=validator)
    elif kind == "signal":
        temporalio.workflow.set_signal_handler(name, handler)
    elif kind == "query":
        temporalio.workflow.set_query_handler(name, handler)
    else:
        temporalio.workflow.set_update_handler(name, handler, validator=validator)


def get_handler(kind: str, name: str) -> Callable[..., Any] | None:
    """``workflow.get_*_handler`` and ``get_dynamic_*_handler`` (``name`` empty)."""
    if name == DYNAMIC:
        getter = {
            "signal": temporalio.workflow.get_dynamic_signal_handler,
            "query": temporalio.workflow.get_dynamic_query_handler,
        }.get(kind, temporalio.workflow.get_dynamic_update_handler)
        found: Callable[..., Any] | None = getter()
    else:
        named = {
            "signal": temporalio.workflow.get_signal_handler,
            "query": temporalio.workflow.get_query_handler,
        }.get(kind, temporalio.workflow.get_update_handler)
        found = named(name)
    return getattr(found, _ORIGINAL, found)
