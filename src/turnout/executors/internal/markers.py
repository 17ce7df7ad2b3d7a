"""Markers: what a workflow task records so that replay reads it back instead of deciding
it again.

A patch marker records that ``workflow.patched(id)`` took the new branch. A local
activity marker records a local activity's outcome: the worker runs the activity
during the workflow task that asked for it, then hands the outcome to the workflow
(:meth:`Markers.settle`), which records the marker and goes on in the same task. Replay
hands each recorded outcome back at the same point: once the code has asked for the
activity and has nothing else to do (:meth:`Markers.settle_recorded`), as the live
task did.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from turnout.contracts.errors import Failure, exception_from_failure
from turnout.contracts.events import Event, EventType
from turnout.executors.internal import codec
from turnout.executors.internal.commands import Command, RecordLocalActivity, RecordMarker
from turnout.executors.internal.loop import WorkflowEventLoop
from turnout.executors.internal.operations import ActivityHandle
from turnout.workflows._definitions import ActivityDefinition
from turnout.workflows._runtime import ActivityCancellationType, LocalActivityOptions

__all__ = ["LocalActivityOutcome", "LocalActivityRequest", "Markers"]


@dataclass(frozen=True)
class LocalActivityRequest:
    """A local activity the workflow asked for, for the worker to run."""

    seq: int
    activity_type: str
    activity_id: str
    args: list[Any]
    """Encoded (JSON) arguments."""
    options: LocalActivityOptions
    header: dict[str, Any] = field(default_factory=dict)
    """The payloads the workflow's interceptors set."""


@dataclass(frozen=True)
class LocalActivityOutcome:
    """How a local activity ended: its encoded result, or its failure (an activity
    failure whose cause is the last attempt's), after ``attempt`` attempts."""

    seq: int
    attempt: int
    result: Any = None
    failure: Failure | None = None


@dataclass
class _Local:
    future: asyncio.Future[Any]
    result_type: Any
    name: str
    activity_id: str


class Markers:
    """The markers of one workflow instance: patches and local activities."""

    def __init__(self, loop: WorkflowEventLoop, commands: Callable[[], list[Command]]) -> None:
        self._loop = loop
        self._commands = commands
        """The current activation's command list (markers join it in order)."""
        self._replaying = False
        self._patches: dict[str, bool] = {}
        self._recorded_patches: set[str] = set()
        self._recorded_locals: deque[Event] = deque()
        self._locals: dict[int, _Local] = {}
        self._seq = 0
        self._requests: list[LocalActivityRequest] = []
        self.cancel_requested: set[int] = set()
        """Local activities the workflow asked to cancel (the worker cancels them)."""
        self._gone: set[int] = set()
        """Local activities whose await already ended in a cancellation."""

    def activation(self, recorded: Sequence[Event], *, replaying: bool) -> None:
        """A new activation begins; ``recorded`` are its task's recorded commands."""
        self._replaying = replaying
        markers = [e for e in recorded if e.type is EventType.MARKER_RECORDED]
        self._recorded_patches = {
            str(e.attributes.get("patch_id", ""))
            for e in markers
            if e.attributes.get("marker", "patch") == "patch"
        }
        self._recorded_locals = deque(
            e for e in markers if e.attributes.get("marker") == "local_activity"
        )

    # -- patches -----------------------------------------------------------------------
    def patched(self, patch_id: str) -> bool:
        """``workflow.patched``: True for new code; on replay, True when history has the marker."""
        if patch_id in self._patches:
            return self._patches[patch_id]
        value = patch_id in self._recorded_patches if self._replaying else True
        self._patches[patch_id] = value
        if value:
            self._commands().append(RecordMarker(patch_id=patch_id))
        return value

    # -- local activities --------------------------------------------------------------
    def start_local(
        self,
        activity: Any,
        args: Sequence[Any],
        options: LocalActivityOptions,
        result_type: Any,
        header: dict[str, Any] | None = None,
    ) -> ActivityHandle:
        """Ask for a local activity; the task that awaits its outcome."""
        defn = ActivityDefinition.from_callable(activity) if callable(activity) else None
        if not isinstance(activity, str) and defn is None:
            raise TypeError(f"{activity!r} is not an activity: decorate it with @activity.defn")
        name = defn.name if defn else str(activity)
        self._seq += 1
        seq = self._seq
        activity_id = options.activity_id or str(seq)
        future = self._loop.create_future()
        self._locals[seq] = _Local(future, result_type, name, activity_id)
        if not self._replaying:
            encoded = codec.encode_args(args)
            self._requests.append(
                LocalActivityRequest(seq, name, activity_id, encoded, options, dict(header or {}))
            )
        return ActivityHandle(self._await(seq, future, options.cancellation_type), loop=self._loop)

    async def _await(
        self, seq: int, future: asyncio.Future[Any], cancellation: ActivityCancellationType
    ) -> Any:
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if seq not in self._locals or future.done():
                raise
            if cancellation is not ActivityCancellationType.ABANDON:
                self.cancel_requested.add(seq)
            if cancellation is not ActivityCancellationType.WAIT_CANCELLATION_COMPLETED:
                self._gone.add(seq)
                raise
            try:
                return await future  # until the worker stopped it
            except Exception:
                raise asyncio.CancelledError() from None

    def take_requests(self) -> list[LocalActivityRequest]:
        """The local activities asked for since the last call, for the worker to run."""
        requests, self._requests = self._requests, []
        return requests

    def settle(self, outcome: LocalActivityOutcome) -> None:
        """Record ``outcome`` and hand it to the code that awaits it."""
        local = self._locals.pop(outcome.seq, None)
        if local is None:
            return
        self.cancel_requested.discard(outcome.seq)
        self._commands().append(
            RecordLocalActivity(
                seq=outcome.seq,
                activity_type=local.name,
                activity_id=local.activity_id,
                attempt=outcome.attempt,
                result=outcome.result,
                failure=outcome.failure,
            )
        )
        if outcome.seq in self._gone:
            self._gone.discard(outcome.seq)
            local.future.cancel()  # nobody awaits it any more
        elif outcome.failure is not None:
            local.future.set_exception(exception_from_failure(outcome.failure))
        else:
            try:
                local.future.set_result(codec.decode(outcome.result, local.result_type))
            except Exception as exc:  # a result that does not fit its type: the code sees it
                local.future.set_exception(exc)

    def settle_recorded(self) -> bool:
        """On replay, settle the next recorded local activity once the code has asked for
        it; True when one was settled."""
        if not self._recorded_locals:
            return False
        attrs = self._recorded_locals[0].attributes
        seq = int(attrs.get("local_seq", 0))
        if seq not in self._locals:
            return False
        self._recorded_locals.popleft()
        failure = attrs.get("failure")
        self.settle(
            LocalActivityOutcome(
                seq=seq,
                attempt=int(attrs.get("attempt", 1)),
                result=attrs.get("result"),
                failure=Failure.model_validate(failure) if failure is not None else None,
            )
        )
        return True
