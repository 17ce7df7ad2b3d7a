"""The deterministic workflow runtime: replay of history, activations, commands.

A :class:`WorkflowInstance` holds one live workflow object and its coroutines on a
:class:`WorkflowEventLoop`. :meth:`WorkflowInstance.advance` feeds it the run's history:
every recorded workflow task is replayed (the code must produce the same commands it
produced then, or :class:`NonDeterminismError`), then the events not yet seen are
delivered in one live activation whose new commands the worker commits. Beside it:
``operations.py`` (commands, and the futures awaiting outcomes), ``handlers.py``
(signals, updates), ``determinism.py`` (the replay check), ``runtime.py`` (what
``workflow.*`` calls reach).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from turnout.contracts.errors import (
    FailureError,
    failure_from_exception,
)
from turnout.contracts.events import COMMAND_EVENT_TYPES, INBOUND_EVENT_TYPES, Event, EventType
from turnout.contracts.governance import decision_from_event, start_refused
from turnout.contracts.records import PolicyDecision
from turnout.executors.internal import codec
from turnout.executors.internal.commands import (
    CancelWorkflow,
    Command,
    CompleteWorkflow,
    ContinueAsNew,
    FailWorkflow,
)
from turnout.executors.internal.determinism import is_start_gate, nondeterminism
from turnout.executors.internal.guard import guard_for, run_guarded
from turnout.executors.internal.handlers import MessageHandlers, UpdateRequest
from turnout.executors.internal.loop import WorkflowEventLoop, WorkflowTimerHandle
from turnout.executors.internal.markers import LocalActivityOutcome, Markers
from turnout.executors.internal.operations import Operations
from turnout.executors.internal.runtime import ContinueAsNewError, InternalRuntime
from turnout.workflows._definitions import HandlerDefinition, WorkflowDefinition
from turnout.workflows._runtime import WorkflowInfo, reset_workflow_runtime, set_workflow_runtime

__all__ = ["ContinueAsNewError", "WorkflowInstance", "WorkflowTaskError"]


_log = logging.getLogger("turnout.engine")

_MEASURE_EVERY = 4096
"""Events kept unmeasured at most (the history's size is measured when asked)."""


class WorkflowTaskError(Exception):
    """The workflow task failed (a bug, or non-determinism); the run stays open and retries."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"workflow task failed: {cause!r}")
        self.__cause__ = cause


class WorkflowInstance(MessageHandlers):
    """One workflow run held in memory (the sticky cache keeps these between tasks)."""

    def __init__(
        self,
        defn: WorkflowDefinition,
        info: WorkflowInfo,
        run_input: list[Any],
        *,
        failure_types: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.defn = defn
        self.failure_types = (*defn.failure_exception_types, *failure_types)
        """Exceptions that fail the workflow (the class's and the worker's), not the task."""
        self._info = info
        self._input = run_input
        self._loop = WorkflowEventLoop(self, guard=guard_for(defn.cls))  # type: ignore[abstract]
        seed = int.from_bytes(hashlib.sha256(info.run_id.encode()).digest()[:8], "big")
        self._random = random.Random(seed)
        self._now = info.start_time
        self._replaying = False
        self.operations = Operations(
            self._loop, info.task_queue, self.uuid4, lambda: self.cancel_requested
        )
        """The commands of the current activation and the futures awaiting outcomes."""
        self._start_gate: str | None = None
        self._start_held = False
        self._conditions: list[tuple[Callable[[], bool], asyncio.Future[Any]]] = []
        self.markers = Markers(self._loop, lambda: self.operations.commands)
        """Patch and local activity markers (what replay reads back from the history)."""
        self._buffered_signals: list[Event] = []
        self._set_handlers: dict[str, dict[str, HandlerDefinition]] = {
            "signal": {},
            "query": {},
            "update": {},
        }
        self._obj: Any = None
        self._args: list[Any] = []
        self._main: asyncio.Task[Any] | None = None
        self._closed = False
        self._task_error: BaseException | None = None
        self.cancel_requested = False
        self.seen_seq = 0
        """Highest event seq this instance has read."""
        self.processed_through = 0
        """Highest seq of the inbound events delivered to the workflow code."""
        self.task_count = 0
        """Workflow tasks replayed or committed so far."""
        self.own_seqs: range = range(0)
        """Seqs of the events the last commit of this instance appended."""
        self.activated_at = 0.0
        """``time.monotonic()`` when the last activation began (the deadlock watchdog's
        sign of progress: a long replay is many activations)."""
        self.dropped_signals = 0
        """Signals dropped because their arguments did not fit the handler."""
        self.history_length = 0
        """Events of history when the current activation's workflow task began (recorded
        with each task, so replay gives the number the first run saw)."""
        self._history_bytes = 0
        self._unmeasured: list[dict[str, Any]] = []
        self.handlers_running = 0
        """Signal handlers delivered and not yet returned (``workflow.all_handlers_finished``)."""
        self.memo: dict[str, Any] = {}
        """The memo as the workflow code sees it: its start's, then its own upserts."""
        self.search_attributes: dict[str, Any] = {}
        """The search attributes (stored form): the start's, then the run's own upserts."""

    # -- feeding history -----------------------------------------------------------
    def advance(
        self,
        new_events: Sequence[Event],
        now: datetime,
        *,
        live: bool = True,
        updates: Sequence[UpdateRequest] = (),
    ) -> list[Command]:
        """Replay the recorded workflow tasks in ``new_events``, then run one live activation.

        Returns the live activation's commands. Raises :class:`WorkflowTaskError`
        when the code fails or contradicts the history (NonDeterminismError).
        """
        events = [e for e in new_events if e.seq > self.seen_seq and e.seq not in self.own_seqs]
        for event in events:
            if is_start_gate(event):
                self._start_gate = str(event.attributes["name"])
            elif event.type is EventType.WORKFLOW_STARTED:
                self.memo = dict(event.attributes.get("memo") or {})
                self.search_attributes = dict(event.attributes.get("search_attributes") or {})
        inbound: list[Event] = []
        for i, event in enumerate(events):
            if event.type is EventType.WORKFLOW_TASK_COMPLETED:
                through = int(event.attributes.get("processed_through", 0))
                batch = [e for e in inbound if e.seq <= through]
                inbound = [e for e in inbound if e.seq > through]
                recorded = []
                for later in events[i + 1 :]:
                    if later.type is EventType.WORKFLOW_TASK_COMPLETED:
                        break
                    if later.type in COMMAND_EVENT_TYPES:
                        recorded.append(later)
                at = datetime.fromisoformat(event.attributes["time"])
                self.history_length = int(event.attributes.get("history_length") or event.seq - 1)
                produced = self._activate(batch, at, replaying=True, recorded=recorded)
                error = nondeterminism(produced, recorded, event.seq)
                if error is not None:
                    raise WorkflowTaskError(error)
                self.processed_through = max(self.processed_through, through)
                self.task_count += 1
            elif event.type in INBOUND_EVENT_TYPES and event.seq > self.processed_through:
                inbound.append(event)
        if new_events:
            self.seen_seq = max(self.seen_seq, max(e.seq for e in new_events))
            self._unmeasured.extend(e.attributes for e in events)
            if len(self._unmeasured) > _MEASURE_EVERY:
                self.history_size()
        self.history_length = self.seen_seq
        if not live:
            return []
        live_now = max(now, self._now)
        commands = self._activate(inbound, live_now, replaying=False, recorded=[], updates=updates)
        if inbound:
            self.processed_through = max(self.processed_through, inbound[-1].seq)
        return commands

    def history_size(self) -> int:
        """Bytes of the JSON of the events read so far (measured when asked)."""
        if self._unmeasured:
            self._history_bytes += sum(len(json.dumps(a, default=str)) for a in self._unmeasured)
            self._unmeasured = []
        return self._history_bytes

    def committed(self, seqs: range) -> None:
        """Record that the live activation's commands were committed as ``seqs``."""
        self.own_seqs = seqs
        self.task_count += 1

    @property
    def now_value(self) -> datetime:
        """The workflow time of the last activation."""
        return self._now

    @property
    def info(self) -> WorkflowInfo:
        """The run this instance executes."""
        return self._info

    @property
    def random(self) -> random.Random:
        """The run's seeded random generator (the same numbers on every replay)."""
        return self._random

    @property
    def replaying(self) -> bool:
        """True while the current activation replays a recorded workflow task."""
        return self._replaying

    def uuid4(self) -> uuid.UUID:
        """A UUID drawn from the run's seeded generator."""
        return uuid.UUID(int=self._random.getrandbits(128), version=4)

    def add_condition(self, fn: Callable[[], bool]) -> asyncio.Future[Any]:
        """A future set once ``fn()`` is true; checked whenever the loop runs dry."""
        future = self._loop.create_future()
        self._conditions.append((fn, future))
        return future

    @property
    def closed(self) -> bool:
        """True once the workflow produced a closing command."""
        return self._closed

    # -- one activation --------------------------------------------------------------
    def _activate(
        self,
        batch: Sequence[Event],
        now: datetime,
        *,
        replaying: bool,
        recorded: list[Event],
        updates: Sequence[UpdateRequest] = (),
    ) -> list[Command]:
        self.activated_at = time.monotonic()
        self._now = now
        self._replaying = replaying
        self.markers.activation(recorded, replaying=replaying)
        self.operations.take()
        token = set_workflow_runtime(InternalRuntime(self))
        try:
            # As on Temporal: the workflow object exists before anything reaches it, and
            # signals and updates are handled before the other events of the activation
            # (so a signal sent with the start is seen before the run method starts).
            signals = [e for e in batch if e.type is EventType.SIGNAL_RECEIVED]
            others = [e for e in batch if e.type is not EventType.SIGNAL_RECEIVED]
            try:
                if any(e.type is EventType.WORKFLOW_STARTED for e in others):
                    self._make_object()
                for event in signals:
                    self._deliver(event)
                if self._obj is not None and not self._closed:
                    if replaying:
                        self._replay_updates(recorded)
                    else:
                        self._decide_updates(updates)  # a held start leaves them for later
                for event in others:
                    self._deliver(event)
            except Exception as exc:  # e.g. a result that does not match its type
                self._task_error = exc
            if self._task_error is None:
                self._run_until_blocked()
        finally:
            reset_workflow_runtime(token)
        return self._finish()

    def settle_local(self, outcome: LocalActivityOutcome) -> list[Command]:
        """Go on with the live activation once a local activity ended; its new commands."""
        self.activated_at = time.monotonic()
        token = set_workflow_runtime(InternalRuntime(self))
        try:
            self.markers.settle(outcome)
            self._run_until_blocked()
        finally:
            reset_workflow_runtime(token)
        return self._finish()

    def _finish(self) -> list[Command]:
        """The activation's commands (up to a closing one), or its WorkflowTaskError."""
        if (
            self._task_error is None
            and not self._closed
            and self._main is not None
            and self._main.done()
        ):
            self._task_error = RuntimeError(
                "the workflow's main coroutine ended without completing, failing or "
                "continuing as new"
            )
        if self._task_error is not None:
            error, self._task_error = self._task_error, None
            raise WorkflowTaskError(error)
        commands = self.operations.take()
        closing = next((i for i, c in enumerate(commands) if c.closes is not None), None)
        if closing is not None:
            commands = commands[: closing + 1]  # nothing after the end is recorded
        return commands

    def _run_until_blocked(self) -> None:
        while True:
            self._loop.step()
            if self._closed:
                return
            progressed = False
            for fn, future in list(self._conditions):
                if future.done():
                    self._conditions.remove((fn, future))
                    continue
                try:
                    ready = fn()
                except BaseException as exc:  # a bug in the condition: fail the task
                    self._task_error = exc
                    return
                if ready:
                    future.set_result(True)
                    self._conditions.remove((fn, future))
                    progressed = True
            if not progressed and not self._loop.has_ready() and not self.markers.settle_recorded():
                return

    def _deliver(self, event: Event) -> None:
        attrs = event.attributes
        match event.type:
            case EventType.WORKFLOW_STARTED:
                self.start_header = dict(attrs.get("header") or {})
                if self._start_gate is not None:
                    self._start_held = True  # a start policy holds the code until approved
                else:
                    self._start()
            case EventType.WORKFLOW_CANCEL_REQUESTED:
                self.cancel_requested = True
                if self._main is not None and not self._main.done():
                    # Queued behind the main task's first step: cancelling a coroutine that
                    # has not started would skip its try/except and leave the run open.
                    self._loop.call_soon(self._main.cancel)
            case EventType.SIGNAL_RECEIVED:
                self._signal(event)
            case EventType.TIMER_FIRED:
                self.operations.timer_fired(int(attrs["timer_seq"]))
            case EventType.ACTIVITY_COMPLETED:
                self.operations.activity_completed(event)
            case (
                EventType.ACTIVITY_FAILED
                | EventType.ACTIVITY_TIMED_OUT
                | EventType.ACTIVITY_CANCELED
            ):
                self.operations.activity_failed(event)
            case EventType.APPROVAL_DECIDED if (
                self._start_held and attrs.get("name") == self._start_gate
            ):
                self._open_start_gate(decision_from_event(event))
            case EventType.APPROVAL_DECIDED:
                self.operations.approval_decided(event)
            case EventType.CHILD_WORKFLOW_COMPLETED:
                self.operations.child_completed(event)
            case (
                EventType.CHILD_WORKFLOW_FAILED
                | EventType.CHILD_WORKFLOW_CANCELED
                | EventType.CHILD_WORKFLOW_TERMINATED
                | EventType.CHILD_WORKFLOW_TIMED_OUT
            ):
                self.operations.child_failed(event)
            case (
                EventType.EXTERNAL_WORKFLOW_SIGNALED
                | EventType.SIGNAL_EXTERNAL_WORKFLOW_FAILED
                | EventType.EXTERNAL_WORKFLOW_CANCEL_REQUESTED
                | EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_FAILED
            ):
                self.operations.external_answered(event)
            case _:
                pass

    def hold_start(self, approval: str) -> None:
        """A start policy requires ``approval`` before the workflow code may start."""
        self._start_gate = approval

    def _open_start_gate(self, decision: PolicyDecision) -> None:
        self._start_held = False
        if decision.approved:
            self._start()
            return
        refused = start_refused(self.defn.name, decision)
        self._close(FailWorkflow(failure_from_exception(refused, with_stack=False)))

    def _make_object(self, *, held: bool = False) -> None:
        """Make the workflow object (unless a start policy holds the run's code)."""
        if self._obj is None and (self._start_gate is None or held):
            self._args = codec.decode_args(self._input, self.defn.arg_types)
            self._obj = run_guarded(self._loop.guard, lambda: self.defn.new_instance(self._args))

    def _start(self) -> None:
        self._make_object(held=True)
        run = self.intercepted_run(getattr(self._obj, self.defn.run_method_name))
        self._main = self._loop.create_task(self._run_main(run, self._args), name="workflow-main")

    async def _run_main(self, run: Callable[..., Awaitable[Any]], args: list[Any]) -> None:
        try:
            result = await run(*args)
            encoded = codec.encode(result)  # a result pydantic cannot encode is a bug, below
        except ContinueAsNewError as exc:
            try:
                next_args = codec.encode_args(exc.next_args)
            except BaseException as error:
                self._task_error = error
                return
            self._close(
                ContinueAsNew(
                    workflow_type=exc.workflow_type or self.defn.name,
                    args=next_args,
                    task_queue=self._info.task_queue,
                    header=exc.header,
                )
            )
        except asyncio.CancelledError:
            if self.cancel_requested:
                self._close(CancelWorkflow())
            else:
                self._close(
                    FailWorkflow(failure_from_exception(asyncio.CancelledError("canceled")))
                )
        except FailureError as exc:
            self._close(FailWorkflow(failure_from_exception(exc)))
        except BaseException as exc:
            # Not a workflow failure but a bug: fail the workflow task, keep the run open,
            # retry after a fix is deployed (as Temporal does), unless its type is one the
            # workflow or the worker names as failing the workflow.
            self._fail_or_retry(exc)
        else:
            self._close(CompleteWorkflow(encoded))

    def _close(self, command: Command) -> None:
        if not self._closed:
            self._closed = True
            self.operations.commands.append(command)

    # -- queries (never produce commands) ----------------------------------------------
    def query(self, handler: HandlerDefinition, args: list[Any], header: Any = None) -> Any:
        """Call a query handler on the current workflow object."""
        return self.read_only(lambda: self.call_query(handler, args, header or {}))

    def read_only(self, call: Callable[[], Any]) -> Any:
        """``call()`` with the workflow read-only (a query handler, an update's validator)."""
        token = set_workflow_runtime(InternalRuntime(self, read_only=True))
        try:
            return call()
        finally:
            reset_workflow_runtime(token)

    # -- TimerHost ---------------------------------------------------------------------
    def now_timestamp(self) -> float:
        return self._now.timestamp()

    def start_timer(self, handle: WorkflowTimerHandle, delay: float) -> None:
        self.operations.start_timer(handle, delay, self._now)

    def cancel_timer(self, handle: WorkflowTimerHandle) -> None:
        self.operations.cancel_timer(handle)

    def on_loop_error(self, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, BaseException) and self._task_error is None:
            self._task_error = exc
        elif exc is None:
            _log.debug("workflow loop: %s", context.get("message"))

    # -- patches -----------------------------------------------------------------------
    def patched(self, patch_id: str) -> bool:
        """``workflow.patched`` (see :class:`Markers`)."""
        return self.markers.patched(patch_id)

    def dispose(self) -> None:
        """Cancel every coroutine (on cache eviction); commands produced now are dropped."""
        self._closed = True
        token = set_workflow_runtime(InternalRuntime(self, read_only=True))
        try:
            for task in self._loop.tasks():
                task.cancel()
            self._loop.step()
        except BaseException:  # user finally-blocks may misbehave during teardown
            _log.debug("error while disposing workflow instance", exc_info=True)
        finally:
            reset_workflow_runtime(token)
        self.operations.take()
