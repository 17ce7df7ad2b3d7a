"""What workflow code asked for and is waiting on: the commands and their futures.

:class:`Operations` belongs to one :class:`~turnout.executors.internal.engine.WorkflowInstance`.
It numbers activities, timers and children, appends the command each request
produces, keeps the future the workflow code awaits, and settles that future when the
history delivers the outcome (``activity_completed``, ``timer_fired``, ...).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from turnout.contracts.errors import CancelledError as CanceledFailure
from turnout.contracts.errors import (
    Failure,
    FailureError,
    WorkflowAlreadyStartedError,
    exception_from_failure,
)
from turnout.contracts.events import Event
from turnout.contracts.governance import decision_from_event
from turnout.contracts.records import IdReusePolicy, ParentClosePolicy, PolicyDecision
from turnout.contracts.retry import RetryPolicy
from turnout.executors.internal import codec
from turnout.executors.internal.commands import (
    CancelTimer,
    Command,
    RequestApproval,
    RequestCancelActivity,
    RequestCancelChild,
    RequestCancelExternal,
    ScheduleActivity,
    SignalExternal,
    StartChild,
    StartTimer,
)
from turnout.executors.internal.loop import WorkflowEventLoop, WorkflowTask, WorkflowTimerHandle
from turnout.workflows._definitions import ActivityDefinition, WorkflowDefinition
from turnout.workflows._runtime import (
    ActivityCancellationType,
    ActivityOptions,
    ChildWorkflowOptions,
)

__all__ = ["ActivityHandle", "ChildHandle", "Operations"]


class ActivityHandle(WorkflowTask):
    """What ``workflow.start_activity`` returns: an awaitable task on the activity's result."""


class ChildHandle(WorkflowTask):
    """What ``workflow.start_child_workflow`` returns; ``id`` is the child's workflow id.

    Cancelling it (directly, or by cancelling what awaits it) asks the child to cancel and
    goes on waiting: as with Temporal's default ``WAIT_CANCELLATION_COMPLETED``, the await
    ends once the child has closed."""

    id: str = ""
    ask_to_cancel: Callable[[], None] | None = None

    def cancel(self, msg: Any = None) -> bool:
        if self.ask_to_cancel is None or self.done():
            return super().cancel(msg)
        self.ask_to_cancel()
        return True


_WITHDRAWN = "Signal was cancelled before being sent"
"""temporalio's message for a signal withdrawn before it was sent."""


@dataclass
class _Pending:
    future: asyncio.Future[Any]
    result_type: Any
    name: str


def _secs(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


class Operations:
    """The commands of the current activation and the futures awaiting their outcomes."""

    def __init__(
        self,
        loop: WorkflowEventLoop,
        task_queue: str,
        new_id: Callable[[], uuid.UUID],
        cancelling: Callable[[], bool] = lambda: False,
    ) -> None:
        self.commands: list[Command] = []
        """The commands produced since the activation began."""
        self._loop = loop
        self._task_queue = task_queue
        self._new_id = new_id
        self._cancelling = cancelling
        """True once the run was asked to cancel."""
        self._seqs = {"activity": 0, "timer": 0, "child": 0, "signal": 0, "cancel": 0}
        self._timers: dict[int, WorkflowTimerHandle] = {}
        self._activities: dict[int, _Pending] = {}
        self._children: dict[int, _Pending] = {}
        self._approvals: dict[str, asyncio.Future[Any]] = {}
        self._external: dict[tuple[str, int], asyncio.Future[None]] = {}
        """The signals (``("signal", seq)``) and cancel requests (``("cancel", seq)``) sent
        to other workflows and not yet answered."""

    @property
    def children_started(self) -> bool:
        """True once the run started a child (replay starts them again, so a recreated
        instance knows too)."""
        return self._seqs["child"] > 0

    def take(self) -> list[Command]:
        """Return the commands produced so far and start a new list."""
        commands, self.commands = self.commands, []
        return commands

    def _next(self, kind: str) -> int:
        self._seqs[kind] += 1
        return self._seqs[kind]

    # -- timers ------------------------------------------------------------------------
    def start_timer(self, handle: WorkflowTimerHandle, delay: float, now: datetime) -> None:
        """Number ``handle`` and record the timer that fires ``delay`` seconds after ``now``."""
        seq = self._next("timer")
        handle.seq = seq
        self._timers[seq] = handle
        fire_at = now + timedelta(seconds=delay)
        self.commands.append(StartTimer(seq=seq, duration=delay, fire_at=fire_at.isoformat()))

    def cancel_timer(self, handle: WorkflowTimerHandle) -> None:
        """Cancel a timer that has not fired yet."""
        if self._timers.pop(handle.seq, None) is not None:
            self.commands.append(CancelTimer(seq=handle.seq))

    def timer_fired(self, seq: int) -> None:
        """The history says timer ``seq`` fired: run its callback."""
        handle = self._timers.pop(seq, None)
        if handle is not None and not handle.cancelled():
            self._loop.fire(handle)

    # -- activities --------------------------------------------------------------------
    def schedule_activity(
        self,
        activity: Any,
        args: Sequence[Any],
        options: ActivityOptions,
        result_type: Any,
        header: dict[str, Any] | None = None,
    ) -> ActivityHandle:
        """Record a ScheduleActivity and return the task that awaits its result."""
        defn = ActivityDefinition.from_callable(activity) if callable(activity) else None
        name = defn.name if defn else str(activity)
        if not isinstance(activity, str) and defn is None:
            raise TypeError(f"{activity!r} is not an activity: decorate it with @activity.defn")
        seq = self._next("activity")
        future = self._loop.create_future()
        self._activities[seq] = _Pending(future, result_type, name)
        policy = options.retry_policy or RetryPolicy()
        self.commands.append(
            ScheduleActivity(
                seq=seq,
                activity_id=options.activity_id or str(seq),
                activity_type=name,
                args=codec.encode_args(args),
                task_queue=options.task_queue or self._task_queue,
                start_to_close_timeout=_secs(options.start_to_close_timeout),
                schedule_to_close_timeout=_secs(options.schedule_to_close_timeout),
                heartbeat_timeout=_secs(options.heartbeat_timeout),
                retry_policy=policy.model_dump(mode="json"),
                header=codec.check_header(header, codec.DEFAULT_MAX_PAYLOAD_BYTES),
            )
        )
        return ActivityHandle(
            self._await_activity(seq, future, options.cancellation_type), loop=self._loop
        )

    async def _await_activity(
        self, seq: int, future: asyncio.Future[Any], cancellation: ActivityCancellationType
    ) -> Any:
        try:
            # Shielded: cancelling the await must not settle the activity's own future,
            # which WAIT_CANCELLATION_COMPLETED goes on waiting for.
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            pending = self._activities.get(seq)
            if pending is None:
                raise
            if cancellation is ActivityCancellationType.ABANDON:
                del self._activities[seq]  # never told; its outcome is ignored
                raise
            self.commands.append(RequestCancelActivity(seq=seq, activity_type=pending.name))
            if cancellation is ActivityCancellationType.TRY_CANCEL:
                del self._activities[seq]
                raise
            try:
                return await future  # until the activity stopped, as it acknowledges
            except FailureError:
                raise asyncio.CancelledError() from None

    def activity_completed(self, event: Event) -> None:
        """Settle the activity of an ``activity_completed`` event with its decoded result."""
        pending = self._activities.pop(int(event.attributes["activity_seq"]), None)
        if pending is not None and not pending.future.done():
            result = codec.decode(event.attributes.get("result"), pending.result_type)
            pending.future.set_result(result)

    def activity_failed(self, event: Event) -> None:
        """Settle the activity of a failed, timed-out or canceled event with its error."""
        pending = self._activities.pop(int(event.attributes["activity_seq"]), None)
        if pending is not None and not pending.future.done():
            failure = Failure.model_validate(event.attributes["failure"])
            pending.future.set_exception(exception_from_failure(failure))

    # -- child workflows ---------------------------------------------------------------
    def start_child(
        self,
        workflow: Any,
        args: Sequence[Any],
        options: ChildWorkflowOptions,
        result_type: Any,
        header: dict[str, Any] | None = None,
    ) -> ChildHandle:
        """Record a StartChild and return the task that awaits the child's result."""
        defn = WorkflowDefinition.from_run_fn(workflow) if callable(workflow) else None
        if defn is None and isinstance(workflow, type):
            defn = WorkflowDefinition.must_from_class(workflow)
        name = defn.name if defn else str(workflow)
        seq = self._next("child")
        child_id = options.id or str(self._new_id())
        future = self._loop.create_future()
        self._children[seq] = _Pending(future, result_type, name)
        self.commands.append(
            StartChild(
                seq=seq,
                workflow_id=child_id,
                workflow_type=name,
                args=codec.encode_args(args),
                task_queue=options.task_queue or self._task_queue,
                execution_timeout=_secs(options.execution_timeout),
                task_timeout=_secs(options.task_timeout),
                id_reuse_policy=(options.id_reuse_policy or IdReusePolicy.ALLOW_DUPLICATE).value,
                parent_close_policy=(
                    options.parent_close_policy or ParentClosePolicy.TERMINATE
                ).value,
                memo=dict(options.memo or {}),
                search_attributes=dict(options.search_attributes or {}),
                header=codec.check_header(header, codec.DEFAULT_MAX_PAYLOAD_BYTES),
            )
        )
        handle = ChildHandle(self._await_child(future), loop=self._loop)
        handle.id = child_id
        asked: list[bool] = []

        def ask_to_cancel() -> None:
            if seq in self._children and not asked:
                asked.append(True)
                self.commands.append(RequestCancelChild(seq=seq, workflow_id=child_id))

        handle.ask_to_cancel = ask_to_cancel
        return handle

    async def _await_child(self, future: asyncio.Future[Any]) -> Any:
        """The child's result, or its ChildWorkflowError (a canceled child's cause is a
        CancelledError), which a run that is itself being cancelled sees as its own
        cancellation, as on Temporal."""
        try:
            return await future
        except FailureError:
            if self._cancelling():
                raise asyncio.CancelledError() from None
            raise

    def child_completed(self, event: Event) -> None:
        """Settle the child of a ``child_workflow_completed`` event with its decoded result."""
        pending = self._children.pop(int(event.attributes["child_seq"]), None)
        if pending is not None and not pending.future.done():
            result = codec.decode(event.attributes.get("result"), pending.result_type)
            pending.future.set_result(result)

    def child_failed(self, event: Event) -> None:
        """Settle the child of a failed, canceled, terminated or timed-out event."""
        attrs = event.attributes
        pending = self._children.pop(int(attrs["child_seq"]), None)
        if pending is not None and not pending.future.done():
            if attrs.get("already_started"):
                error: BaseException = WorkflowAlreadyStartedError(
                    attrs.get("workflow_id", ""), pending.name
                )
            else:
                error = exception_from_failure(Failure.model_validate(attrs["failure"]))
            pending.future.set_exception(error)

    # -- other workflows (external handles) ---------------------------------------------
    async def signal_external(
        self,
        workflow_id: str,
        run_id: str | None,
        name: str,
        args: list[Any],
        header: dict[str, Any] | None = None,
    ) -> None:
        """Record a SignalExternal and wait until the target's run has the signal."""
        seq = self._next("signal")
        command = SignalExternal(
            seq=seq,
            workflow_id=workflow_id,
            run_id=run_id,
            name=name,
            args=args,
            header=codec.check_header(header, codec.DEFAULT_MAX_PAYLOAD_BYTES),
        )
        self.commands.append(command)
        future: asyncio.Future[None] = self._loop.create_future()
        self._external[("signal", seq)] = future
        try:
            while True:
                try:
                    return await asyncio.shield(future)
                except asyncio.CancelledError:
                    # As temporalio: the cancellation decides nothing but whether a signal
                    # not sent yet (made in this activation) is sent. Its await then
                    # raises CancelledError (a FailureError); a sent one's outcome stands.
                    if any(c is command for c in self.commands):
                        self.commands = [c for c in self.commands if c is not command]
                        future.set_exception(CanceledFailure(_WITHDRAWN))
                    task = asyncio.current_task()
                    if task is None or future.cancelled():
                        raise
                    task.uncancel()
        finally:
            self._external.pop(("signal", seq), None)

    async def cancel_external(self, workflow_id: str, run_id: str | None) -> None:
        """Record a RequestCancelExternal and wait until the request is recorded (a cancel
        request cannot itself be cancelled: it is sent either way)."""
        seq = self._next("cancel")
        self.commands.append(RequestCancelExternal(seq=seq, workflow_id=workflow_id, run_id=run_id))
        future: asyncio.Future[None] = self._loop.create_future()
        self._external[("cancel", seq)] = future
        try:
            await future
        finally:
            self._external.pop(("cancel", seq), None)

    def external_answered(self, event: Event) -> None:
        """Settle the signal or cancel request that an ``external_workflow_signaled``,
        ``external_workflow_cancel_requested`` or ``…_failed`` event answers."""
        attrs = event.attributes
        kind = "signal" if "signal_seq" in attrs else "cancel"
        future = self._external.pop((kind, int(attrs[f"{kind}_seq"])), None)
        if future is None or future.done():
            return
        failure = attrs.get("failure")
        if failure is None:
            future.set_result(None)
        else:
            future.set_exception(exception_from_failure(Failure.model_validate(failure)))

    # -- approvals ---------------------------------------------------------------------
    async def request_approval(
        self, name: str, details: dict[str, Any], timeout: float | None
    ) -> PolicyDecision:
        """Record a RequestApproval and wait for its decision."""
        if name in self._approvals:
            raise ValueError(
                f"approval {name!r} is already pending in this run; wait for its decision "
                "or give the new request another name"
            )
        future = self._loop.create_future()
        self._approvals[name] = future
        self.commands.append(
            RequestApproval(name=name, details=codec.encode(details), timeout=timeout)
        )
        try:
            decision: PolicyDecision = await future
        finally:
            self._approvals.pop(name, None)
        return decision

    def approval_decided(self, event: Event) -> None:
        """Settle the request an ``approval_decided`` event answers."""
        waiting = self._approvals.pop(str(event.attributes.get("name")), None)
        if waiting is not None and not waiting.done():
            waiting.set_result(decision_from_event(event))
