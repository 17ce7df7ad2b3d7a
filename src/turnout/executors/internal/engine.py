"""The deterministic workflow runtime: replay of history, activations, commands.

A :class:`WorkflowInstance` holds one live workflow object and its coroutines
on a :class:`WorkflowEventLoop`. :meth:`WorkflowInstance.advance` feeds it the
run's history: every recorded workflow task is replayed (the code must produce
the same commands it produced then, or :class:`NonDeterminismError`), then the
events not yet seen are delivered in one live activation whose new commands
the worker commits.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from turnout.contracts.errors import (
    ApplicationError,
    Failure,
    FailureError,
    NonDeterminismError,
    WorkflowAlreadyStartedError,
    exception_from_failure,
    failure_from_exception,
)
from turnout.contracts.events import COMMAND_EVENT_TYPES, INBOUND_EVENT_TYPES, Event, EventType
from turnout.contracts.governance import APPROVAL_REJECTED, START_GATE, decision_from_event
from turnout.contracts.records import PolicyDecision
from turnout.contracts.retry import RetryPolicy
from turnout.executors.internal import codec
from turnout.executors.internal.commands import (
    CancelTimer,
    CancelWorkflow,
    Command,
    CompleteWorkflow,
    ContinueAsNew,
    FailWorkflow,
    RecordMarker,
    RequestApproval,
    RequestCancelActivity,
    RequestCancelChild,
    ScheduleActivity,
    StartChild,
    StartTimer,
    recorded_key,
)
from turnout.executors.internal.loop import WorkflowEventLoop, WorkflowTimerHandle
from turnout.workflows._definitions import ActivityDefinition, HandlerDefinition, WorkflowDefinition
from turnout.workflows._runtime import (
    ActivityOptions,
    ChildWorkflowOptions,
    WorkflowInfo,
    reset_workflow_runtime,
    set_workflow_runtime,
)

__all__ = ["ContinueAsNewError", "WorkflowInstance", "WorkflowTaskError"]

_CLOSING = (CompleteWorkflow, FailWorkflow, CancelWorkflow, ContinueAsNew)

_log = logging.getLogger("turnout.engine")


class ContinueAsNewError(BaseException):
    """Raised by ``workflow.continue_as_new``; ends the run (a BaseException, so
    ``except Exception`` in workflow code does not swallow it)."""

    def __init__(self, workflow_type: str | None, args: list[Any]) -> None:
        super().__init__("continue as new")
        self.workflow_type = workflow_type
        self.next_args = args


class WorkflowTaskError(Exception):
    """The workflow task failed (a bug, or non-determinism); the run stays open and retries."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"workflow task failed: {cause!r}")
        self.__cause__ = cause


class _ActivityHandle(asyncio.Task[Any]):
    """What ``workflow.start_activity`` returns: an awaitable task on the activity's result."""


class _ChildHandle(asyncio.Task[Any]):
    """What ``workflow.start_child_workflow`` returns; ``id`` is the child's workflow id."""

    id: str = ""


@dataclass
class _Pending:
    future: asyncio.Future[Any]
    result_type: Any
    name: str


def _timestamp(at: datetime) -> float:
    return at.timestamp()


class WorkflowInstance:
    """One workflow run held in memory (the sticky cache keeps these between tasks)."""

    def __init__(self, defn: WorkflowDefinition, info: WorkflowInfo, run_input: list[Any]) -> None:
        self.defn = defn
        self._info = info
        self._input = run_input
        self._loop = WorkflowEventLoop(self)  # type: ignore[abstract]
        seed = int.from_bytes(hashlib.sha256(info.run_id.encode()).digest()[:8], "big")
        self._random = random.Random(seed)
        self._now = info.start_time
        self._replaying = False
        self._commands: list[Command] = []
        self._seqs = {"activity": 0, "timer": 0, "child": 0}
        self._timers: dict[int, WorkflowTimerHandle] = {}
        self._activities: dict[int, _Pending] = {}
        self._children: dict[int, _Pending] = {}
        self._approvals: dict[str, asyncio.Future[Any]] = {}
        self._start_gate: str | None = None
        self._start_held = False
        self._conditions: list[tuple[Callable[[], bool], asyncio.Future[Any]]] = []
        self._patches: dict[str, bool] = {}
        self._recorded_markers: set[str] = set()
        self._buffered_signals: list[Event] = []
        self._obj: Any = None
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

    # -- feeding history -----------------------------------------------------------
    def advance(
        self, new_events: Sequence[Event], now: datetime, *, live: bool = True
    ) -> list[Command]:
        """Replay the recorded workflow tasks in ``new_events``, then run one live activation.

        Returns the live activation's commands. Raises :class:`WorkflowTaskError`
        when the code fails or contradicts the history (NonDeterminismError).
        """
        events = [e for e in new_events if e.seq > self.seen_seq and e.seq not in self.own_seqs]
        for event in events:
            if _is_start_gate(event):
                self._start_gate = str(event.attributes["name"])
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
                produced = self._activate(batch, at, replaying=True, recorded=recorded)
                self._check_determinism(produced, recorded, event.seq)
                self.processed_through = max(self.processed_through, through)
                self.task_count += 1
            elif event.type in INBOUND_EVENT_TYPES and event.seq > self.processed_through:
                inbound.append(event)
        if new_events:
            self.seen_seq = max(self.seen_seq, max(e.seq for e in new_events))
        if not live:
            return []
        live_now = max(now, self._now)
        commands = self._activate(inbound, live_now, replaying=False, recorded=[])
        if inbound:
            self.processed_through = max(self.processed_through, inbound[-1].seq)
        return commands

    def committed(self, seqs: range) -> None:
        """Record that the live activation's commands were committed as ``seqs``."""
        self.own_seqs = seqs
        self.task_count += 1

    @property
    def now_value(self) -> datetime:
        """The workflow time of the last activation."""
        return self._now

    @property
    def closed(self) -> bool:
        """True once the workflow produced a closing command."""
        return self._closed

    def _check_determinism(
        self, produced: list[Command], recorded: list[Event], task_seq: int
    ) -> None:
        produced = [c for c in produced if c.event_type in COMMAND_EVENT_TYPES]
        recorded = [e for e in recorded if not _is_start_gate(e)]
        produced_markers = {c.patch_id for c in produced if isinstance(c, RecordMarker)}
        recorded = [
            e
            for e in recorded
            if not (
                e.type is EventType.MARKER_RECORDED
                and e.attributes.get("patch_id") not in produced_markers
            )
        ]
        for index, event in enumerate(recorded):
            if index >= len(produced):
                raise WorkflowTaskError(
                    NonDeterminismError(
                        f"history event {event.seq} ({event.type.value} "
                        f"{recorded_key(event.type, event.attributes)}) recorded by workflow task "
                        f"{task_seq} is no longer produced by the workflow code"
                    )
                )
            command = produced[index]
            if command.event_type is not event.type or command.key() != recorded_key(
                event.type, event.attributes
            ):
                raise WorkflowTaskError(
                    NonDeterminismError(
                        f"history event {event.seq} recorded {event.type.value} "
                        f"{recorded_key(event.type, event.attributes)}, but the workflow code now "
                        f"produces {command.event_type.value} {command.key()} at that point; "
                        f"guard the change with workflow.patched()"
                    )
                )
        if len(produced) > len(recorded):
            extra = produced[len(recorded)]
            raise WorkflowTaskError(
                NonDeterminismError(
                    f"workflow task {task_seq}: the workflow code now produces "
                    f"{extra.event_type.value} {extra.key()} that the history does not record; "
                    f"guard the change with workflow.patched()"
                )
            )

    # -- one activation --------------------------------------------------------------
    def _activate(
        self, batch: Sequence[Event], now: datetime, *, replaying: bool, recorded: list[Event]
    ) -> list[Command]:
        self.activated_at = time.monotonic()
        self._now = now
        self._replaying = replaying
        self._recorded_markers = {
            e.attributes.get("patch_id", "")
            for e in recorded
            if e.type is EventType.MARKER_RECORDED
        }
        self._commands = []
        token = set_workflow_runtime(_InternalRuntime(self))
        try:
            for event in batch:
                try:
                    self._deliver(event)
                except Exception as exc:  # e.g. a result that does not match its type
                    self._task_error = exc
                    break
            if self._task_error is None:
                self._run_until_blocked()
        finally:
            reset_workflow_runtime(token)
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
        commands, self._commands = self._commands, []
        closing = next((i for i, c in enumerate(commands) if isinstance(c, _CLOSING)), None)
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
            if not progressed and not self._loop.has_ready():
                return

    def _deliver(self, event: Event) -> None:
        attrs = event.attributes
        match event.type:
            case EventType.WORKFLOW_STARTED:
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
                handle = self._timers.pop(int(attrs["timer_seq"]), None)
                if handle is not None and not handle.cancelled():
                    self._loop.fire(handle)
            case EventType.ACTIVITY_COMPLETED:
                pending = self._activities.pop(int(attrs["activity_seq"]), None)
                if pending is not None and not pending.future.done():
                    pending.future.set_result(
                        codec.decode(attrs.get("result"), pending.result_type)
                    )
            case (
                EventType.ACTIVITY_FAILED
                | EventType.ACTIVITY_TIMED_OUT
                | EventType.ACTIVITY_CANCELED
            ):
                pending = self._activities.pop(int(attrs["activity_seq"]), None)
                if pending is not None and not pending.future.done():
                    failure = Failure.model_validate(attrs["failure"])
                    pending.future.set_exception(exception_from_failure(failure))
            case EventType.APPROVAL_DECIDED if (
                self._start_held and attrs.get("name") == self._start_gate
            ):
                self._open_start_gate(decision_from_event(event))
            case EventType.APPROVAL_DECIDED:
                waiting = self._approvals.pop(str(attrs.get("name")), None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(decision_from_event(event))
            case EventType.CHILD_WORKFLOW_COMPLETED:
                pending = self._children.pop(int(attrs["child_seq"]), None)
                if pending is not None and not pending.future.done():
                    pending.future.set_result(
                        codec.decode(attrs.get("result"), pending.result_type)
                    )
            case (
                EventType.CHILD_WORKFLOW_FAILED
                | EventType.CHILD_WORKFLOW_CANCELED
                | EventType.CHILD_WORKFLOW_TERMINATED
                | EventType.CHILD_WORKFLOW_TIMED_OUT
            ):
                pending = self._children.pop(int(attrs["child_seq"]), None)
                if pending is not None and not pending.future.done():
                    if attrs.get("already_started"):
                        error: BaseException = WorkflowAlreadyStartedError(
                            attrs.get("workflow_id", ""), pending.name
                        )
                    else:
                        error = exception_from_failure(Failure.model_validate(attrs["failure"]))
                    pending.future.set_exception(error)
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
        by = f" by {decision.decided_by}" if decision.decided_by else ""
        why = f": {decision.reason}" if decision.reason else ""
        self._close(
            FailWorkflow(
                failure_from_exception(
                    ApplicationError(
                        f"{self.defn.name} may not start: approval {decision.name!r} was "
                        f"{decision.outcome.value}{by}{why}",
                        type=APPROVAL_REJECTED,
                        non_retryable=True,
                    ),
                    with_stack=False,
                )
            )
        )

    def _start(self) -> None:
        args = codec.decode_args(self._input, self.defn.arg_types)
        self._obj = self.defn.cls()
        run = getattr(self._obj, self.defn.run_method_name)
        self._main = self._loop.create_task(self._run_main(run, args), name="workflow-main")

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
            # retry after a fix is deployed (as Temporal does).
            self._task_error = exc
        else:
            self._close(CompleteWorkflow(encoded))

    def _close(self, command: Command) -> None:
        if not self._closed:
            self._closed = True
            self._commands.append(command)

    def _signal(self, event: Event) -> None:
        name = event.attributes.get("name", "")
        handler = self.defn.signals.get(name)
        if handler is None:
            _log.warning(
                "workflow %s has no signal handler %r; signal buffered", self.defn.name, name
            )
            self._buffered_signals.append(event)
            return
        try:
            args = codec.decode_args(event.attributes.get("args", []), handler.arg_types)
            _bind_check(getattr(self.defn.cls, handler.method_name), args)
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
                _one_line(exc),
            )
            return
        self._loop.call_soon(self._invoke_signal, handler, args)

    def _invoke_signal(self, handler: HandlerDefinition, args: list[Any]) -> None:
        method = getattr(self._obj, handler.method_name)
        if handler.is_async:
            self._loop.create_task(self._guard(method(*args)))
            return
        try:
            method(*args)
        except FailureError as exc:
            self._close(FailWorkflow(failure_from_exception(exc)))
        except BaseException as exc:
            self._task_error = exc

    async def _guard(self, awaitable: Awaitable[Any]) -> None:
        try:
            await awaitable
        except FailureError as exc:
            self._close(FailWorkflow(failure_from_exception(exc)))
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            self._task_error = exc

    # -- queries (never produce commands) ----------------------------------------------
    def query(self, handler: HandlerDefinition, args: list[Any]) -> Any:
        """Call a query handler on the current workflow object."""
        token = set_workflow_runtime(_InternalRuntime(self, read_only=True))
        try:
            return getattr(self._obj, handler.method_name)(*args)
        finally:
            reset_workflow_runtime(token)

    # -- TimerHost ---------------------------------------------------------------------
    def now_timestamp(self) -> float:
        return _timestamp(self._now)

    def start_timer(self, handle: WorkflowTimerHandle, delay: float) -> None:
        seq = self._next("timer")
        handle.seq = seq
        self._timers[seq] = handle
        fire_at = self._now + timedelta(seconds=delay)
        self._commands.append(StartTimer(seq=seq, duration=delay, fire_at=fire_at.isoformat()))

    def cancel_timer(self, handle: WorkflowTimerHandle) -> None:
        if self._timers.pop(handle.seq, None) is not None:
            self._commands.append(CancelTimer(seq=handle.seq))

    def on_loop_error(self, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, BaseException) and self._task_error is None:
            self._task_error = exc
        elif exc is None:
            _log.debug("workflow loop: %s", context.get("message"))

    # -- runtime operations ------------------------------------------------------------
    def _next(self, kind: str) -> int:
        self._seqs[kind] += 1
        return self._seqs[kind]

    def _schedule_activity(
        self, activity: Any, args: Sequence[Any], options: ActivityOptions, result_type: Any
    ) -> _ActivityHandle:
        defn = ActivityDefinition.from_callable(activity) if callable(activity) else None
        name = defn.name if defn else str(activity)
        if not isinstance(activity, str) and defn is None:
            raise TypeError(f"{activity!r} is not an activity: decorate it with @activity.defn")
        seq = self._next("activity")
        future = self._loop.create_future()
        self._activities[seq] = _Pending(future, result_type, name)
        policy = options.retry_policy or RetryPolicy()
        self._commands.append(
            ScheduleActivity(
                seq=seq,
                activity_id=options.activity_id or str(seq),
                activity_type=name,
                args=codec.encode_args(args),
                task_queue=options.task_queue or self._info.task_queue,
                start_to_close_timeout=_secs(options.start_to_close_timeout),
                schedule_to_close_timeout=_secs(options.schedule_to_close_timeout),
                heartbeat_timeout=_secs(options.heartbeat_timeout),
                retry_policy=policy.model_dump(mode="json"),
            )
        )
        return _ActivityHandle(self._await_activity(seq, future), loop=self._loop)

    async def _await_activity(self, seq: int, future: asyncio.Future[Any]) -> Any:
        try:
            return await future
        except asyncio.CancelledError:
            pending = self._activities.pop(seq, None)
            if pending is not None:
                self._commands.append(RequestCancelActivity(seq=seq, activity_type=pending.name))
            raise

    def _start_child(
        self, workflow: Any, args: Sequence[Any], options: ChildWorkflowOptions, result_type: Any
    ) -> _ChildHandle:
        defn = WorkflowDefinition.from_run_fn(workflow) if callable(workflow) else None
        if defn is None and isinstance(workflow, type):
            defn = WorkflowDefinition.must_from_class(workflow)
        name = defn.name if defn else str(workflow)
        seq = self._next("child")
        child_id = options.id or str(self._uuid4())
        future = self._loop.create_future()
        self._children[seq] = _Pending(future, result_type, name)
        self._commands.append(
            StartChild(
                seq=seq,
                workflow_id=child_id,
                workflow_type=name,
                args=codec.encode_args(args),
                task_queue=options.task_queue or self._info.task_queue,
                execution_timeout=_secs(options.execution_timeout),
            )
        )
        handle = _ChildHandle(self._await_child(seq, child_id, future), loop=self._loop)
        handle.id = child_id
        return handle

    async def _await_child(self, seq: int, child_id: str, future: asyncio.Future[Any]) -> Any:
        try:
            return await future
        except asyncio.CancelledError:
            if seq in self._children:
                self._commands.append(RequestCancelChild(seq=seq, workflow_id=child_id))
            raise

    async def _request_approval(
        self, name: str, details: dict[str, Any], timeout: float | None
    ) -> PolicyDecision:
        if name in self._approvals:
            raise ValueError(
                f"approval {name!r} is already pending in this run; wait for its decision "
                "or give the new request another name"
            )
        future = self._loop.create_future()
        self._approvals[name] = future
        self._commands.append(
            RequestApproval(name=name, details=codec.encode(details), timeout=timeout)
        )
        try:
            decision: PolicyDecision = await future
        finally:
            self._approvals.pop(name, None)
        return decision

    def _patched(self, patch_id: str) -> bool:
        if patch_id in self._patches:
            return self._patches[patch_id]
        value = patch_id in self._recorded_markers if self._replaying else True
        self._patches[patch_id] = value
        if value:
            self._commands.append(RecordMarker(patch_id=patch_id))
        return value

    def _uuid4(self) -> uuid.UUID:
        return uuid.UUID(int=self._random.getrandbits(128), version=4)

    def dispose(self) -> None:
        """Cancel every coroutine (on cache eviction); commands produced now are dropped."""
        self._closed = True
        token = set_workflow_runtime(_InternalRuntime(self, read_only=True))
        try:
            for task in self._loop.tasks():
                task.cancel()
            self._loop.step()
        except BaseException:  # user finally-blocks may misbehave during teardown
            _log.debug("error while disposing workflow instance", exc_info=True)
        finally:
            reset_workflow_runtime(token)
        self._commands = []


@functools.lru_cache(maxsize=4096)
def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fn)


def _bind_check(method: Callable[..., Any], args: list[Any]) -> None:
    """Raise TypeError when ``method`` (unbound: ``self`` first) cannot take ``args``."""
    _signature(method).bind(None, *args)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _is_start_gate(event: Event) -> bool:
    return event.type is EventType.APPROVAL_REQUESTED and event.attributes.get("gate") == START_GATE


def _secs(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


class _InternalRuntime:
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
        return self._i._info

    def now(self) -> datetime:
        return self._i._now.astimezone(UTC)

    def random(self) -> random.Random:
        return self._i._random

    def uuid4(self) -> uuid.UUID:
        return self._i._uuid4()

    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        from turnout.workflows.workflow import logger

        return logger

    def is_replaying(self) -> bool:
        return self._i._replaying

    async def sleep(self, seconds: float) -> None:
        self._writable()
        await asyncio.sleep(seconds)

    async def wait_condition(self, fn: Callable[[], bool], timeout: float | None) -> None:
        if fn():
            return
        self._writable()
        future = self._i._loop.create_future()
        self._i._conditions.append((fn, future))
        if timeout is None:
            await future
        else:
            await asyncio.wait_for(future, timeout)

    def start_activity(
        self, activity: Any, args: Sequence[Any], options: ActivityOptions, result_type: Any
    ) -> Awaitable[Any]:
        self._writable()
        return self._i._schedule_activity(activity, args, options, result_type)

    async def start_child_workflow(
        self, workflow: Any, args: Sequence[Any], options: ChildWorkflowOptions, result_type: Any
    ) -> Any:
        self._writable()
        return self._i._start_child(workflow, args, options, result_type)

    def continue_as_new(self, workflow: Any, args: Sequence[Any]) -> NoReturn:
        self._writable()
        name: str | None = None
        if workflow is not None:
            defn = WorkflowDefinition.from_run_fn(workflow) if callable(workflow) else None
            name = defn.name if defn else str(workflow)
        raise ContinueAsNewError(name, list(args))

    def patched(self, patch_id: str) -> bool:
        return self._i._patched(patch_id)

    def deprecate_patch(self, patch_id: str) -> None:
        return None

    async def request_approval(
        self, name: str, details: dict[str, Any], timeout: float | None
    ) -> PolicyDecision:
        self._writable()
        return await self._i._request_approval(name, details, timeout)
