"""Commands: what a workflow task asks for. Each becomes events (and queue items) on commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from turnout.contracts.errors import Failure
from turnout.contracts.events import EventType
from turnout.contracts.governance import approval_requested_attributes
from turnout.contracts.states import RunState
from turnout.executors.internal.command_base import Declared
from turnout.executors.internal.update_commands import AcceptUpdate, CompleteUpdate, RejectUpdate

__all__ = [
    "AcceptUpdate",
    "CancelTimer",
    "CancelWorkflow",
    "Command",
    "CompleteUpdate",
    "CompleteWorkflow",
    "ContinueAsNew",
    "FailWorkflow",
    "RecordMarker",
    "RejectUpdate",
    "RequestApproval",
    "RequestCancelActivity",
    "RequestCancelChild",
    "RequestCancelExternal",
    "ScheduleActivity",
    "SignalExternal",
    "StartChild",
    "StartTimer",
    "UpsertMemo",
    "UpsertSearchAttributes",
]


@dataclass(frozen=True)
class ScheduleActivity(Declared):
    seq: int
    activity_id: str
    activity_type: str
    args: list[Any]
    task_queue: str
    start_to_close_timeout: float | None
    schedule_to_close_timeout: float | None
    heartbeat_timeout: float | None
    retry_policy: dict[str, Any]
    event_type: EventType = EventType.ACTIVITY_SCHEDULED
    headers: dict[str, str] | None = None
    """Context that travels with the activity: the run's correlation id, the scheduling
    workflow task's trace context (``traceparent``)."""
    header: dict[str, Any] = field(default_factory=dict)
    """The payloads the workflow's interceptors set (Temporal's activity header)."""

    def key(self) -> tuple[Any, ...]:
        return (self.seq, self.activity_type)

    def payload(self) -> tuple[Any, str] | None:
        return self.args, f"the arguments of activity {self.activity_type}"

    def attributes(self) -> dict[str, Any]:
        attrs = {
            "activity_seq": self.seq,
            "activity_id": self.activity_id,
            "activity_type": self.activity_type,
            "task_queue": self.task_queue,
            "input": self.args,
            "start_to_close_timeout": self.start_to_close_timeout,
            "schedule_to_close_timeout": self.schedule_to_close_timeout,
            "heartbeat_timeout": self.heartbeat_timeout,
            "retry_policy": self.retry_policy,
        }
        if self.headers:
            attrs["headers"] = self.headers
        if self.header:
            attrs["header"] = self.header
        return attrs


@dataclass(frozen=True)
class RequestCancelActivity(Declared):
    seq: int
    activity_type: str = ""
    event_type: EventType = EventType.ACTIVITY_CANCEL_REQUESTED

    def key(self) -> tuple[Any, ...]:
        return (self.seq,)

    def attributes(self) -> dict[str, Any]:
        return {"activity_seq": self.seq, "activity_type": self.activity_type}


@dataclass(frozen=True)
class StartTimer(Declared):
    seq: int
    duration: float
    fire_at: str
    event_type: EventType = EventType.TIMER_STARTED

    def key(self) -> tuple[Any, ...]:
        return (self.seq,)

    def attributes(self) -> dict[str, Any]:
        return {"timer_seq": self.seq, "duration": self.duration, "fire_at": self.fire_at}


@dataclass(frozen=True)
class CancelTimer(Declared):
    seq: int
    event_type: EventType = EventType.TIMER_CANCELED

    def key(self) -> tuple[Any, ...]:
        return (self.seq,)

    def attributes(self) -> dict[str, Any]:
        return {"timer_seq": self.seq}


@dataclass(frozen=True)
class StartChild(Declared):
    seq: int
    workflow_id: str
    workflow_type: str
    args: list[Any]
    task_queue: str
    execution_timeout: float | None
    event_type: EventType = EventType.CHILD_WORKFLOW_STARTED
    id_reuse_policy: str = "allow_duplicate"
    parent_close_policy: str = "terminate"
    task_timeout: float | None = None
    memo: dict[str, Any] = field(default_factory=dict)
    search_attributes: dict[str, Any] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[Any, ...]:
        return (self.seq, self.workflow_type)

    def payload(self) -> tuple[Any, str] | None:
        return self.args, f"the input of workflow {self.workflow_type}"

    def attributes(self) -> dict[str, Any]:
        return {
            "child_seq": self.seq,
            "workflow_id": self.workflow_id,
            "workflow_type": self.workflow_type,
            "task_queue": self.task_queue,
            "input": self.args,
            "execution_timeout": self.execution_timeout,
            "id_reuse_policy": self.id_reuse_policy,
            "parent_close_policy": self.parent_close_policy,
            **({"task_timeout": self.task_timeout} if self.task_timeout else {}),
            **({"memo": self.memo} if self.memo else {}),
            **({"search_attributes": self.search_attributes} if self.search_attributes else {}),
            **({"header": self.header} if self.header else {}),
        }


@dataclass(frozen=True)
class RequestCancelChild(Declared):
    seq: int
    workflow_id: str
    event_type: EventType = EventType.WORKFLOW_CANCEL_REQUESTED  # recorded on the child
    appended: ClassVar[bool] = False

    def key(self) -> tuple[Any, ...]:
        return (self.seq,)

    def attributes(self) -> dict[str, Any]:
        return {"child_seq": self.seq, "workflow_id": self.workflow_id}


@dataclass(frozen=True)
class SignalExternal(Declared):
    """Signal another workflow (its open run: ``run_id``, else the latest of ``workflow_id``)."""

    seq: int
    workflow_id: str
    run_id: str | None
    name: str
    args: list[Any]
    event_type: EventType = EventType.SIGNAL_EXTERNAL_WORKFLOW_INITIATED
    header: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[Any, ...]:
        return (self.seq, self.name)

    def payload(self) -> tuple[Any, str] | None:
        return self.args, f"the arguments of signal {self.name}"

    def attributes(self) -> dict[str, Any]:
        return {
            "signal_seq": self.seq,
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "name": self.name,
            "args": self.args,
            **({"header": self.header} if self.header else {}),
        }


@dataclass(frozen=True)
class RequestCancelExternal(Declared):
    """Ask another workflow to cancel (its run ``run_id``, else the latest of ``workflow_id``)."""

    seq: int
    workflow_id: str
    run_id: str | None
    event_type: EventType = EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_INITIATED

    def key(self) -> tuple[Any, ...]:
        return (self.seq,)

    def attributes(self) -> dict[str, Any]:
        return {"cancel_seq": self.seq, "workflow_id": self.workflow_id, "run_id": self.run_id}


@dataclass(frozen=True)
class RecordMarker(Declared):
    patch_id: str
    event_type: EventType = EventType.MARKER_RECORDED

    def key(self) -> tuple[Any, ...]:
        return ("patch", self.patch_id, None, None)

    def attributes(self) -> dict[str, Any]:
        return {"marker": "patch", "patch_id": self.patch_id}


@dataclass(frozen=True)
class UpsertMemo(Declared):
    """The workflow changed its memo (``memo``: each key's new value, None to remove it):
    Temporal's ``WorkflowPropertiesModified``."""

    memo: dict[str, Any]
    event_type: EventType = EventType.WORKFLOW_PROPERTIES_MODIFIED

    def key(self) -> tuple[Any, ...]:
        return ()

    def payload(self) -> tuple[Any, str] | None:
        return self.memo, "the memo updates"

    def attributes(self) -> dict[str, Any]:
        return {"upserted_memo": self.memo}


@dataclass(frozen=True)
class UpsertSearchAttributes(Declared):
    """The workflow changed its search attributes (``search_attributes``: each name's new
    ``{"type", "value"}``, None to remove it): Temporal's ``UpsertWorkflowSearchAttributes``."""

    search_attributes: dict[str, Any]
    event_type: EventType = EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES

    def key(self) -> tuple[Any, ...]:
        return ()

    def payload(self) -> tuple[Any, str] | None:
        return self.search_attributes, "the search attribute updates"

    def attributes(self) -> dict[str, Any]:
        return {"search_attributes": self.search_attributes}


@dataclass(frozen=True)
class RecordLocalActivity(Declared):
    """A local activity's outcome, recorded in the workflow task that ran it (replay reads
    it from there instead of running the activity again)."""

    seq: int
    activity_type: str
    activity_id: str
    attempt: int
    result: Any = None
    failure: Failure | None = None
    event_type: EventType = EventType.MARKER_RECORDED

    def key(self) -> tuple[Any, ...]:
        return ("local_activity", None, self.seq, self.activity_type)

    def payload(self) -> tuple[Any, str] | None:
        return self.result, f"the result of local activity {self.activity_type}"

    def attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "marker": "local_activity",
            "local_seq": self.seq,
            "activity_type": self.activity_type,
            "activity_id": self.activity_id,
            "attempt": self.attempt,
        }
        if self.failure is not None:
            attrs["failure"] = self.failure.model_dump(mode="json")
        else:
            attrs["result"] = self.result
        return attrs


@dataclass(frozen=True)
class RequestApproval(Declared):
    name: str
    details: dict[str, Any]
    timeout: float | None
    gate: str | None = None
    """``start`` when a start policy holds the run before its code runs (not a code command)."""
    event_type: EventType = EventType.APPROVAL_REQUESTED

    def key(self) -> tuple[Any, ...]:
        return (self.name,)

    def payload(self) -> tuple[Any, str] | None:
        return self.details, f"the details of approval {self.name}"

    def attributes(self) -> dict[str, Any]:
        return approval_requested_attributes(self.name, self.details, self.timeout, gate=self.gate)


@dataclass(frozen=True)
class CompleteWorkflow(Declared):
    result: Any
    event_type: EventType = EventType.WORKFLOW_COMPLETED
    closes: ClassVar[RunState | None] = RunState.COMPLETED

    def payload(self) -> tuple[Any, str] | None:
        return self.result, "the workflow's result"

    def outcome(self) -> tuple[Any, Failure | None]:
        return self.result, None

    def key(self) -> tuple[Any, ...]:
        return ()

    def attributes(self) -> dict[str, Any]:
        return {"result": self.result}


@dataclass(frozen=True)
class FailWorkflow(Declared):
    failure: Failure
    event_type: EventType = EventType.WORKFLOW_FAILED
    closes: ClassVar[RunState | None] = RunState.FAILED

    def outcome(self) -> tuple[Any, Failure | None]:
        return None, self.failure

    def key(self) -> tuple[Any, ...]:
        return ()

    def attributes(self) -> dict[str, Any]:
        return {"failure": self.failure.model_dump(mode="json")}


@dataclass(frozen=True)
class CancelWorkflow(Declared):
    event_type: EventType = EventType.WORKFLOW_CANCELED
    closes: ClassVar[RunState | None] = RunState.CANCELED

    def outcome(self) -> tuple[Any, Failure | None]:
        return None, Failure(kind="canceled", message="workflow canceled")

    def key(self) -> tuple[Any, ...]:
        return ()

    def attributes(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class ContinueAsNew(Declared):
    workflow_type: str
    args: list[Any]
    task_queue: str
    options: dict[str, Any] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)
    event_type: EventType = EventType.WORKFLOW_CONTINUED_AS_NEW
    closes: ClassVar[RunState | None] = RunState.CONTINUED_AS_NEW

    def payload(self) -> tuple[Any, str] | None:
        return self.args, f"the input of workflow {self.workflow_type}"

    def key(self) -> tuple[Any, ...]:
        return ()

    def attributes(self) -> dict[str, Any]:
        return {
            "workflow_type": self.workflow_type,
            "input": self.args,
            "task_queue": self.task_queue,
            **({"header": self.header} if self.header else {}),
        }


Command = (
    ScheduleActivity
    | RequestCancelActivity
    | StartTimer
    | CancelTimer
    | StartChild
    | RequestCancelChild
    | SignalExternal
    | RequestCancelExternal
    | RecordMarker
    | RecordLocalActivity
    | UpsertMemo
    | UpsertSearchAttributes
    | RequestApproval
    | CompleteWorkflow
    | FailWorkflow
    | CancelWorkflow
    | ContinueAsNew
    | AcceptUpdate
    | RejectUpdate
    | CompleteUpdate
)


_KEY_ATTRS: dict[EventType, tuple[str, ...]] = {
    EventType.ACTIVITY_SCHEDULED: ("activity_seq", "activity_type"),
    EventType.ACTIVITY_CANCEL_REQUESTED: ("activity_seq",),
    EventType.TIMER_STARTED: ("timer_seq",),
    EventType.TIMER_CANCELED: ("timer_seq",),
    EventType.CHILD_WORKFLOW_STARTED: ("child_seq", "workflow_type"),
    EventType.SIGNAL_EXTERNAL_WORKFLOW_INITIATED: ("signal_seq", "name"),
    EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_INITIATED: ("cancel_seq",),
    EventType.MARKER_RECORDED: ("marker", "patch_id", "local_seq", "activity_type"),
    EventType.APPROVAL_REQUESTED: ("name",),
    EventType.WORKFLOW_UPDATE_ACCEPTED: ("update_id",),
    EventType.WORKFLOW_UPDATE_COMPLETED: ("update_id",),
}


def recorded_key(event_type: EventType, attributes: dict[str, Any]) -> tuple[Any, ...]:
    """The key of a recorded command event, comparable with ``Command.key()``."""
    return tuple(attributes.get(a) for a in _KEY_ATTRS.get(event_type, ()))
