"""Signals and updates reaching a workflow instance: their handlers, run on the
instance's deterministic loop.

:class:`MessageHandlers` is a part of :class:`~turnout.executors.internal.engine.
WorkflowInstance` (which inherits it); it keeps the count of handlers still running
(``workflow.all_handlers_finished``).

An update goes as on Temporal: a live workflow task runs its validator (none, or one
that returns, accepts it: ``AcceptUpdate``, whose event is the update's record in the
history; one that raises, or no handler of that name, rejects it: ``RejectUpdate``,
recorded on the request only). The handler then runs like an async signal handler; its
return or ``FailureError`` completes the update (``CompleteUpdate``). Replay runs no
validator: the recorded acceptance starts the handler again.

A name no handler takes goes to the dynamic handler of its kind (kept under the empty
name, ``DYNAMIC``), which is given ``(name, [RawValue, ...])``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from turnout.contracts.errors import (
    ApplicationError,
    FailureError,
    error_line,
    failure_from_exception,
)
from turnout.contracts.events import Event, EventType
from turnout.contracts.payloads import RawValue
from turnout.contracts.updates import UpdateInfo
from turnout.executors.internal import codec
from turnout.executors.internal.commands import (
    AcceptUpdate,
    Command,
    CompleteUpdate,
    FailWorkflow,
    RejectUpdate,
)
from turnout.workflows._definitions import HandlerDefinition, WorkflowDefinition
from turnout.workflows._dynamic import DYNAMIC
from turnout.workflows._runtime import WorkflowInfo, current_update

if TYPE_CHECKING:
    from turnout.executors.internal.interception import WorkflowChain
    from turnout.executors.internal.loop import WorkflowEventLoop
    from turnout.executors.internal.operations import Operations

__all__ = ["MessageHandlers", "UpdateRequest", "bind_check", "handler_args"]

_log = logging.getLogger("turnout.engine")

UpdateRequest = tuple[str, str, list[Any], dict[str, Any]]
"""An update a workflow task is to decide: ``(update_id, name, encoded args)``."""


class MessageHandlers:
    """Signal and update handling of a workflow instance (see the module docstring)."""

    defn: WorkflowDefinition
    operations: Operations
    _loop: WorkflowEventLoop
    _info: WorkflowInfo
    _obj: Any
    _replaying: bool
    _task_error: BaseException | None
    _buffered_signals: list[Event]
    dropped_signals: int
    handlers_running: int
    failure_types: tuple[type[BaseException], ...]
    _close: Callable[[Command], None]
    """Record the command that closes the run (WorkflowInstance's)."""
    read_only: Callable[[Callable[[], Any]], Any]
    """Call a function with the workflow read-only (a validator, as a query)."""
    _set_handlers: dict[str, dict[str, HandlerDefinition]]
    """Handlers set while the workflow runs, by kind (signal, query, update) and name."""
    chain: WorkflowChain | None = None
    """The run's interceptor chain (None: the worker has no interceptors)."""
    start_header: dict[str, Any] = {}
    """The headers the run was started with (its interceptors' ``execute_workflow``)."""

    @property
    def workflow_object(self) -> Any:
        """The instance of the workflow class."""
        return self._obj

    def intercepted_run(self, run: Callable[..., Any]) -> Callable[..., Any]:
        """The run method, through the interceptor chain when there is one."""
        return run if self.chain is None else self.chain.run(run, self.start_header)

    def call_query(
        self, handler: HandlerDefinition, args: list[Any], header: dict[str, Any]
    ) -> Any:
        """A query handler's answer, through the interceptor chain when there is one."""
        if self.chain is None:
            return self.bound(handler)(*args)
        return self.chain.query(handler.name, args, header)

    # -- handlers set while the workflow runs ----------------------------------------
    def handler_named(self, kind: str, name: str) -> HandlerDefinition | None:
        """The handler of ``kind`` named ``name``: one set at run time, else the class's."""
        found = self._set_handlers[kind].get(name)
        if found is not None:
            return found
        declared = {"signal": self.defn.signals, "query": self.defn.queries}.get(kind)
        return (declared if declared is not None else self.defn.updates).get(name)

    def handler_names(self, kind: str) -> list[str]:
        """The names of the ``kind`` handlers the workflow has now, declared or set,
        sorted (the dynamic handler left out)."""
        declared = {"signal": self.defn.signals, "query": self.defn.queries}.get(kind)
        names = {*(self.defn.updates if declared is None else declared), *self._set_handlers[kind]}
        return sorted(names - {DYNAMIC})

    def handler_for(self, kind: str, name: str) -> HandlerDefinition | None:
        """The handler that takes ``kind`` ``name``: its named one, else the dynamic one."""
        return self.handler_named(kind, name) or self.handler_named(kind, DYNAMIC)

    def set_handler(self, kind: str, name: str, handler: HandlerDefinition | None) -> None:
        """``workflow.set_*_handler``: set (or, with None, remove) a handler; signals that
        waited for a signal handler of that name (any, for the dynamic one) are delivered
        to it now, in order."""
        if handler is None:
            self._set_handlers[kind].pop(name, None)
            return
        self._set_handlers[kind][name] = handler
        if kind == "signal":
            waiting = [
                e
                for e in self._buffered_signals
                if name == DYNAMIC or e.attributes.get("name") == name
            ]
            self._buffered_signals = [e for e in self._buffered_signals if e not in waiting]
            for event in waiting:
                self._signal(event)

    def _fail_or_retry(self, exc: BaseException) -> None:
        """An exception the code let out: it fails the workflow when its type is one the
        workflow or the worker names (``failure_exception_types``), else the task."""
        if isinstance(exc, self.failure_types):
            self._close(FailWorkflow(failure_from_exception(_as_application_error(exc))))
        else:
            self._task_error = exc

    def bound(self, handler: HandlerDefinition) -> Callable[..., Any]:
        """What to call for ``handler``: the object's method, or the function set."""
        return getattr(self._obj, handler.method_name) if handler.method_name else handler.fn

    def _check_args(self, handler: HandlerDefinition, args: list[Any]) -> None:
        if handler.method_name:
            bind_check(getattr(self.defn.cls, handler.method_name), args)
        else:
            _signature(handler.fn).bind(*args)

    # -- signals -----------------------------------------------------------------------
    def _signal(self, event: Event) -> None:
        name = event.attributes.get("name", "")
        handler = self.handler_for("signal", name)
        if handler is None:
            _log.warning(
                "workflow %s has no signal handler %r; signal buffered", self.defn.name, name
            )
            self._buffered_signals.append(event)
            return
        try:
            args = handler_args(handler, name, event.attributes.get("args", []))
            self._check_args(handler, args)
        except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            # As on Temporal: a signal the handler cannot take is logged and dropped, so
            # one bad send never wedges the run (its signal_received event stays).
            self.dropped_signals += 1
            if self._replaying:
                return
            _log.warning(
                "workflow %s %s: signal %r (event %d) dropped, its arguments do not fit "
                "the handler: %s",
                self.defn.name,
                self._info.workflow_id,
                name,
                event.seq,
                error_line(exc),
            )
            return
        self.handlers_running += 1  # running from delivery on, as on Temporal
        header = dict(event.attributes.get("header") or {})
        if self.chain is not None and not handler.is_async:
            # Its first step runs where the handler would run without interceptors (a
            # task's first step is queued now): adding interceptors changes no order.
            self._loop.create_task(self._guard(self.chain.signal(name, args, header)))
            return
        self._loop.call_soon(self._invoke_signal, handler, args, name, header)

    def _invoke_signal(
        self, handler: HandlerDefinition, args: list[Any], name: str, header: dict[str, Any]
    ) -> None:
        if self.chain is not None:  # an async handler: a task, as without interceptors
            self._loop.create_task(self._guard(self.chain.signal(name, args, header)))
            return
        method = self.bound(handler)
        if handler.is_async:
            self._loop.create_task(self._guard(method(*args)))
            return
        try:
            method(*args)
        except FailureError as exc:
            self._close(FailWorkflow(failure_from_exception(exc)))
        except BaseException as exc:
            self._fail_or_retry(exc)
        finally:
            self.handlers_running -= 1

    async def _guard(self, awaitable: Awaitable[Any]) -> None:
        try:
            await awaitable
        except FailureError as exc:
            self._close(FailWorkflow(failure_from_exception(exc)))
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            self._fail_or_retry(exc)
        finally:
            self.handlers_running -= 1

    # -- updates -----------------------------------------------------------------------
    def _decide_updates(self, requests: Sequence[UpdateRequest]) -> None:
        """A live activation: validate each request, then accept or reject it."""
        for update_id, name, encoded, header in requests:
            handler = self.handler_for("update", name)
            if handler is None:
                names = {*self.defn.updates, *self._set_handlers["update"]} - {DYNAMIC}
                known = " ".join(sorted(names))
                self._reject(
                    update_id,
                    RuntimeError(
                        f"update handler for {name!r} expected but not found; known "
                        f"updates: [{known}]"
                    ),
                )
                continue
            try:
                args = handler_args(handler, name, encoded)
                self._check_args(handler, args)
                info = UpdateInfo(id=update_id, name=name)
                if self.chain is not None and handler.validator is not None:
                    validate = functools.partial(
                        self.chain.validate_update, update_id, name, args, header
                    )
                    _in_update(info, functools.partial(self.read_only, validate))
                elif handler.validator is not None:
                    owner = (self._obj,) if handler.method_name else ()
                    validate = functools.partial(handler.validator, *owner, *args)
                    _in_update(info, functools.partial(self.read_only, validate))
            except Exception as exc:
                self._reject(update_id, exc)
                continue
            self.operations.commands.append(AcceptUpdate(update_id, name, list(encoded), header))
            self._start_update(update_id, name, handler, args, header)

    def _replay_updates(self, recorded: Sequence[Event]) -> None:
        """A replayed activation: the recorded acceptances start their handlers again."""
        for event in recorded:
            if event.type is not EventType.WORKFLOW_UPDATE_ACCEPTED:
                continue
            attrs = event.attributes
            update_id, name = str(attrs["update_id"]), str(attrs["name"])
            handler = self.handler_for("update", name)
            if handler is None:  # the handler is gone: the code no longer matches history
                self._task_error = RuntimeError(
                    f"history event {event.seq} accepted update {name!r}, which the workflow "
                    "no longer has a handler for"
                )
                return
            encoded, header = list(attrs.get("args", [])), dict(attrs.get("header") or {})
            self.operations.commands.append(AcceptUpdate(update_id, name, encoded, header))
            args = handler_args(handler, name, encoded)
            self._start_update(update_id, name, handler, args, header)

    def _reject(self, update_id: str, exc: BaseException) -> None:
        failure = failure_from_exception(
            exc if isinstance(exc, FailureError) else _as_application_error(exc), with_stack=False
        )
        self.operations.commands.append(RejectUpdate(update_id, failure))

    def _start_update(
        self,
        update_id: str,
        name: str,
        handler: HandlerDefinition,
        args: list[Any],
        header: dict[str, Any],
    ) -> None:
        self.handlers_running += 1
        info = UpdateInfo(id=update_id, name=name)
        context = contextvars.copy_context()
        context.run(current_update.set, info)
        if self.chain is not None:
            handled = self._run_update(
                update_id, self.chain.run_update(update_id, name, args, header)
            )
            # Each step where it runs without interceptors (see _signal).
            if handler.is_async:
                self._loop.call_soon(self._loop.create_task, handled, context=context)
            else:
                self._loop.create_task(handled, context=context)
            return
        self._loop.call_soon(
            self._invoke_update, update_id, handler, args, context, context=context
        )

    def _invoke_update(
        self,
        update_id: str,
        handler: HandlerDefinition,
        args: list[Any],
        context: contextvars.Context,
    ) -> None:
        method = self.bound(handler)
        if handler.is_async:
            self._loop.create_task(self._run_update(update_id, method(*args)), context=context)
            return
        try:
            result = method(*args)
        except BaseException as exc:
            self._update_failed(update_id, exc)
        else:
            self._update_done(update_id, result)

    async def _run_update(self, update_id: str, awaitable: Awaitable[Any]) -> None:
        try:
            result = await awaitable
        except BaseException as exc:
            self._update_failed(update_id, exc)
        else:
            self._update_done(update_id, result)

    def _update_done(self, update_id: str, result: Any) -> None:
        self.handlers_running -= 1
        try:
            encoded = codec.encode(result)
        except BaseException as exc:  # a result pydantic cannot encode: a bug, as for run
            self._task_error = exc
            return
        self.operations.commands.append(CompleteUpdate(update_id, result=encoded))

    def _update_failed(self, update_id: str, exc: BaseException) -> None:
        self.handlers_running -= 1
        if isinstance(exc, (FailureError, asyncio.CancelledError, *self.failure_types)):
            # The update fails; the workflow goes on (as on Temporal).
            failure = failure_from_exception(
                exc
                if isinstance(exc, FailureError | asyncio.CancelledError)
                else _as_application_error(exc)
            )
            self.operations.commands.append(CompleteUpdate(update_id, failure=failure))
        else:  # a bug: fail the workflow task, keep the run open (retried after a fix)
            self._task_error = exc


def _in_update(info: UpdateInfo, call: Callable[[], Any]) -> Any:
    context = contextvars.copy_context()
    context.run(current_update.set, info)
    return context.run(call)


def _as_application_error(exc: BaseException) -> ApplicationError:
    """A rejection's cause as the caller sees it: an ApplicationError named after the
    exception's class, as Temporal reports a validator's error."""
    return ApplicationError(str(exc) or type(exc).__name__, type=type(exc).__name__)


def handler_args(handler: HandlerDefinition, name: str, encoded: Sequence[Any]) -> list[Any]:
    """The arguments to call ``handler`` with for the message ``name``'s ``encoded`` ones:
    decoded from its type hints, or, for the dynamic handler, the name and them raw."""
    if handler.dynamic:
        return [name, [RawValue(value) for value in encoded]]
    return codec.decode_args(encoded, handler.arg_types)


@functools.lru_cache(maxsize=4096)
def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fn)


def bind_check(method: Callable[..., Any], args: list[Any]) -> None:
    """Raise TypeError when ``method`` (unbound: ``self`` first) cannot take ``args``."""
    _signature(method).bind(None, *args)
