"""The ``WorkflowRuntime`` the internal engine gives workflow code.

``workflow.*`` calls forward to the runtime in a context variable; during an
activation that is an :class:`InternalRuntime` over the running
:class:`~turnout.executors.internal.engine.WorkflowInstance`. A read-only runtime
(for query handlers and teardown) refuses everything that would produce a command.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

from turnout.contracts.memo import upserted
from turnout.contracts.records import PolicyDecision
from turnout.contracts.search_attributes import upserted_attributes
from turnout.contracts.updates import UpdateInfo
from turnout.contracts.worker_interceptors import ContinueAsNewInput, SignalExternalWorkflowInput
from turnout.executors.internal import codec
from turnout.executors.internal.commands import UpsertMemo, UpsertSearchAttributes
from turnout.executors.internal.continuation import ContinueAsNewError
from turnout.executors.internal.guard import unguarded_methods
from turnout.executors.internal.interception import (
    child_workflow_input,
    local_activity_input,
    run_info,
    signal_external,
    start_activity_input,
)
from turnout.workflows._definitions import WorkflowDefinition, runtime_handler
from turnout.workflows._runtime import (
    ActivityOptions,
    ChildWorkflowOptions,
    LocalActivityOptions,
    WorkflowInfo,
    current_update,
)

if TYPE_CHECKING:
    from turnout.executors.internal.engine import WorkflowInstance

SUGGEST_CONTINUE_AS_NEW_EVENTS = 4096
"""Past this many events the internal executor suggests continuing as new (Temporal's
default too)."""
SUGGEST_CONTINUE_AS_NEW_BYTES = 4 * 1024 * 1024
"""Past this many bytes of history, likewise."""

__all__ = ["SUGGEST_CONTINUE_AS_NEW_EVENTS", "ContinueAsNewError", "InternalRuntime"]

SUGGEST_CONTINUE_AS_NEW_EVENTS = 4096
"""Past this many events of history the internal executor suggests continuing as new
(Temporal's default too)."""


@unguarded_methods
class InternalRuntime:
    """The WorkflowRuntime the internal engine gives workflow code."""

    def __init__(self, instance: WorkflowInstance, *, read_only: bool = False) -> None:
        self._i = instance
        self._read_only = read_only

    def _writable(self) -> None:
        if self._read_only:
            raise RuntimeError(
                "query handlers must not change the workflow (no activities, timers...)"
            )

    def info(self) -> WorkflowInfo:
        chain = self._i.chain
        if chain is not None and chain.is_ready:
            info: WorkflowInfo = chain.outbound.info()
            return info
        return run_info(self._i)

    def now(self) -> datetime:
        return self._i.now_value.astimezone(UTC)

    def random(self) -> random.Random:
        return self._i.random

    def uuid4(self) -> uuid.UUID:
        return self._i.uuid4()

    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        from turnout.workflows.workflow import logger

        return logger

    def is_replaying(self) -> bool:
        return self._i.replaying

    def all_handlers_finished(self) -> bool:
        return self._i.handlers_running == 0

    def set_handler(
        self,
        kind: str,
        name: str,
        handler: Callable[..., Any] | None,
        validator: Callable[..., Any] | None,
    ) -> None:
        self._writable()
        defn = None if handler is None else runtime_handler(name, handler, validator)
        self._i.set_handler(kind, name, defn)

    def get_handler(self, kind: str, name: str) -> Callable[..., Any] | None:
        found = self._i.handler_named(kind, name)
        return None if found is None else self._i.bound(found)

    def payload_converter(self) -> codec.JsonPayloadConverter:
        return codec.CONVERTER

    def in_sandbox(self) -> bool:
        return False  # no sandbox: the loop refuses threads, I/O and subprocesses instead

    def is_read_only(self) -> bool:
        return self._read_only

    def history_length(self) -> int:
        return self._i.history_length

    def history_size(self) -> int:
        return self._i.history_size()

    def continue_as_new_suggested(self) -> bool:
        # By length only: the length is recorded with each workflow task, so replay
        # answers as the first run did.
        return self._i.history_length > SUGGEST_CONTINUE_AS_NEW_EVENTS

    def memo(self) -> dict[str, Any]:
        return dict(self._i.memo)

    def upsert_memo(self, updates: dict[str, Any]) -> None:
        self._writable()
        self._i.memo = upserted(self._i.memo, updates)
        self._i.operations.commands.append(UpsertMemo(updates))

    def upsert_search_attributes(self, updates: dict[str, Any]) -> None:
        self._writable()
        self._i.search_attributes = upserted_attributes(self._i.search_attributes, updates)
        self._i.operations.commands.append(UpsertSearchAttributes(updates))

    def current_update_info(self) -> UpdateInfo | None:
        return current_update.get()

    async def sleep(self, seconds: float) -> None:
        self._writable()
        await asyncio.sleep(seconds)

    async def wait_condition(self, fn: Callable[[], bool], timeout: float | None) -> None:
        # As on Temporal, even a condition that holds is looked at only once no other
        # code is ready: handlers of signals that came together all run first.
        self._writable()
        future = self._i.add_condition(fn)
        if timeout is None:
            await future
        else:
            await asyncio.wait_for(future, timeout)

    def start_activity(
        self, activity: Any, args: Sequence[Any], options: ActivityOptions, result_type: Any
    ) -> Awaitable[Any]:
        self._writable()
        if self._i.chain is not None:
            handle: Awaitable[Any] = self._i.chain.ready().outbound.start_activity(
                start_activity_input(activity, args, options, result_type)
            )
            return handle
        return self._i.operations.schedule_activity(activity, args, options, result_type)

    def start_local_activity(
        self, activity: Any, args: Sequence[Any], options: LocalActivityOptions, result_type: Any
    ) -> Awaitable[Any]:
        self._writable()
        if self._i.chain is not None:
            handle: Awaitable[Any] = self._i.chain.ready().outbound.start_local_activity(
                local_activity_input(activity, args, options, result_type)
            )
            return handle
        return self._i.markers.start_local(activity, args, options, result_type)

    async def start_child_workflow(
        self, workflow: Any, args: Sequence[Any], options: ChildWorkflowOptions, result_type: Any
    ) -> Any:
        self._writable()
        if self._i.chain is not None:
            return await self._i.chain.ready().outbound.start_child_workflow(
                child_workflow_input(workflow, args, options, result_type)
            )
        return self._i.operations.start_child(workflow, args, options, result_type)

    def continue_as_new(self, workflow: Any, args: Sequence[Any]) -> NoReturn:
        self._writable()
        name: str | None = None
        if workflow is not None:
            defn = WorkflowDefinition.from_run_fn(workflow) if callable(workflow) else None
            name = defn.name if defn else str(workflow)
        if self._i.chain is not None:  # the chain's end raises ContinueAsNewError
            input = ContinueAsNewInput(name, list(args), {}, target=workflow)
            self._i.chain.ready().outbound.continue_as_new(input)
        raise ContinueAsNewError(name, list(args))

    async def signal_external_workflow(
        self, workflow_id: str, run_id: str | None, signal: str, args: Sequence[Any]
    ) -> None:
        self._writable()
        if self._i.chain is not None:
            input = SignalExternalWorkflowInput(
                signal, list(args), self._i.info.namespace, workflow_id, run_id, {}
            )
            return await self._i.chain.ready().outbound.signal_external_workflow(input)
        await signal_external(self._i.operations, workflow_id, run_id, signal, args, {})

    async def cancel_external_workflow(self, workflow_id: str, run_id: str | None) -> None:
        self._writable()
        await self._i.operations.cancel_external(workflow_id, run_id)

    def patched(self, patch_id: str) -> bool:
        return self._i.patched(patch_id)

    def deprecate_patch(self, patch_id: str) -> None:
        return None

    async def request_approval(
        self, name: str, details: dict[str, Any], timeout: float | None
    ) -> PolicyDecision:
        self._writable()
        return await self._i.operations.request_approval(name, details, timeout)
