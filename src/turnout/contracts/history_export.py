"""A history the internal executor recorded, in the shape of Temporal's history JSON.

:func:`temporal_history` writes the document ``temporal workflow show --output json``
prints (and temporalio's ``WorkflowHistory.from_json`` reads): each turnout event that
has a Temporal counterpart becomes that history event, in order, numbered from 1, with
the references between events Temporal keeps (``scheduledEventId``, ``startedEventId``,
``workflowTaskCompletedEventId``, ``initiatedEventId``, ...) and the payloads as
temporalio's JSON converter writes them.

What Temporal records and turnout does not is derived: each workflow task's
``WorkflowTaskScheduled`` and ``WorkflowTaskStarted`` are written before its
``WorkflowTaskCompleted`` (or ``Failed``), the first completed one with the flag that
makes temporalio's replayer check commands as strictly as the internal engine; an
activity's ``ActivityTaskStarted`` is its last attempt's, written just before the
activity's outcome, as Temporal writes it; a child's ``ChildWorkflowExecutionStarted``
follows its initiation, with the run id its outcome names. turnout's own events
(``state_changed``, ``lease_expired``, ``retry_scheduled``, ``dead_lettered``,
approvals, policy decisions, artifacts) have no counterpart and are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from turnout.contracts.events import Event, EventType
from turnout.contracts.temporal_attributes import (
    NO_RETRY_POLICY,
    WORKFLOW_TASK_TIMEOUT,
    activity_scheduled,
    child_initiated,
    continued_as_new,
    execution,
    external_cause,
    marker,
    outcome_failure,
    outcome_retry_state,
    task_queue,
    workflow_started,
    workflow_task_failure,
)
from turnout.contracts.temporal_json import (
    duration,
    failure,
    payload,
    payloads,
    search_attribute,
    timestamp,
)

__all__ = ["EXPORTED_EVENT_TYPES", "temporal_history"]

CHECKED_COMMANDS = [1]
"""The flag the first ``WorkflowTaskCompleted`` carries in ``sdkMetadata.coreUsedFlags``:
Temporal's core SDK then checks each command's id and type against the history on
replay, as the internal engine does (without it, temporalio replays leniently, as for a
history written before that check existed)."""

_CHILD_CLOSES = {
    EventType.CHILD_WORKFLOW_COMPLETED: "CHILD_WORKFLOW_EXECUTION_COMPLETED",
    EventType.CHILD_WORKFLOW_FAILED: "CHILD_WORKFLOW_EXECUTION_FAILED",
    EventType.CHILD_WORKFLOW_CANCELED: "CHILD_WORKFLOW_EXECUTION_CANCELED",
    EventType.CHILD_WORKFLOW_TERMINATED: "CHILD_WORKFLOW_EXECUTION_TERMINATED",
    EventType.CHILD_WORKFLOW_TIMED_OUT: "CHILD_WORKFLOW_EXECUTION_TIMED_OUT",
}


def temporal_history(events: Sequence[Event]) -> dict[str, Any]:
    """``{"events": [...]}``: ``events`` (one run's timeline, in seq order) as Temporal's
    history JSON (see the module docstring)."""
    return {"events": _Export(events).run()}


def _attributes_key(event_type: str) -> str:
    """``ACTIVITY_TASK_SCHEDULED`` -> ``activityTaskScheduledEventAttributes``."""
    first, *rest = event_type.lower().split("_")
    return first + "".join(word.capitalize() for word in rest) + "EventAttributes"


def _ref(event_id: int | None) -> str:
    return str(event_id or 0)


def _parsed(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


class _Export:
    """One walk over a run's events, remembering the ids later events refer to."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.source = events
        self.out: list[dict[str, Any]] = []
        self.task_queue = ""
        self.task_completed = 0  # the last WorkflowTaskCompleted, which commands refer to
        self.scheduled: dict[int, int] = {}  # activity seq -> ActivityTaskScheduled
        self.attempts: dict[int, Event] = {}  # activity seq -> its last activity_started
        self.retried: dict[int, Any] = {}  # activity seq -> the failure of the attempt before
        self.cancel_requested: dict[int, int] = {}
        self.timers: dict[int, int] = {}
        self.children: dict[int, tuple[int, int]] = {}  # child seq -> (initiated, started)
        self.signals: dict[int, int] = {}
        self.cancels: dict[int, int] = {}
        self.updates: dict[str, int] = {}
        self.child_outcomes = {
            int(e.attributes.get("child_seq") or 0): e.attributes
            for e in events
            if e.type in _CHILD_CLOSES
        }

    def add(self, event_type: str, at: datetime, attributes: dict[str, Any]) -> int:
        """Append a Temporal event; its id."""
        event_id = len(self.out) + 1
        self.out.append(
            {
                "eventId": str(event_id),
                "eventTime": timestamp(at),
                "eventType": f"EVENT_TYPE_{event_type}",
                _attributes_key(event_type): attributes,
            }
        )
        return event_id

    def command(self, event_type: str, at: datetime, attributes: dict[str, Any]) -> int:
        """Append an event a workflow task's command caused (it names that task)."""
        attributes["workflowTaskCompletedEventId"] = _ref(self.task_completed)
        return self.add(event_type, at, attributes)

    def run(self) -> list[dict[str, Any]]:
        handlers = self._handlers()
        for event in self.source:
            handler = handlers.get(event.type)
            if handler is not None:
                handler(event, event.attributes)
        return self.out

    def _handlers(self) -> dict[EventType, Callable[[Event, Mapping[str, Any]], None]]:
        e = EventType
        return {
            e.WORKFLOW_STARTED: self.started,
            e.WORKFLOW_TASK_COMPLETED: self.workflow_task,
            e.WORKFLOW_TASK_FAILED: self.workflow_task,
            e.WORKFLOW_COMPLETED: self.workflow_closed,
            e.WORKFLOW_FAILED: self.workflow_closed,
            e.WORKFLOW_CANCELED: self.workflow_closed,
            e.WORKFLOW_CONTINUED_AS_NEW: self.workflow_closed,
            e.WORKFLOW_TERMINATED: self.workflow_ended,
            e.WORKFLOW_TIMED_OUT: self.workflow_ended,
            e.WORKFLOW_CANCEL_REQUESTED: self.workflow_ended,
            e.WORKFLOW_PROPERTIES_MODIFIED: self.properties,
            e.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: self.properties,
            e.ACTIVITY_SCHEDULED: self.activity_scheduled,
            e.ACTIVITY_STARTED: self.activity_started,
            e.RETRY_SCHEDULED: self.activity_retried,
            e.ACTIVITY_COMPLETED: self.activity_closed,
            e.ACTIVITY_FAILED: self.activity_closed,
            e.ACTIVITY_TIMED_OUT: self.activity_closed,
            e.ACTIVITY_CANCELED: self.activity_closed,
            e.ACTIVITY_CANCEL_REQUESTED: self.activity_cancel_requested,
            e.TIMER_STARTED: self.timer,
            e.TIMER_FIRED: self.timer,
            e.TIMER_CANCELED: self.timer,
            e.SIGNAL_RECEIVED: self.signal,
            e.WORKFLOW_UPDATE_ACCEPTED: self.update,
            e.WORKFLOW_UPDATE_COMPLETED: self.update,
            e.CHILD_WORKFLOW_STARTED: self.child_started,
            **dict.fromkeys(_CHILD_CLOSES, self.child_closed),
            e.SIGNAL_EXTERNAL_WORKFLOW_INITIATED: self.external,
            e.EXTERNAL_WORKFLOW_SIGNALED: self.external,
            e.SIGNAL_EXTERNAL_WORKFLOW_FAILED: self.external,
            e.REQUEST_CANCEL_EXTERNAL_WORKFLOW_INITIATED: self.external,
            e.EXTERNAL_WORKFLOW_CANCEL_REQUESTED: self.external,
            e.REQUEST_CANCEL_EXTERNAL_WORKFLOW_FAILED: self.external,
            e.MARKER_RECORDED: self.marker,
        }

    # the run

    def started(self, event: Event, attrs: Mapping[str, Any]) -> None:
        self.task_queue = str(attrs.get("task_queue") or "")
        self.add("WORKFLOW_EXECUTION_STARTED", event.at, workflow_started(event))

    def workflow_task(self, event: Event, attrs: Mapping[str, Any]) -> None:
        """A workflow task: Temporal's scheduled, started and completed (or failed)."""
        begun = min(_parsed(attrs.get("time")) or event.at, event.at)
        attempt = int(attrs.get("attempt") or 1)
        scheduled = self.add(
            "WORKFLOW_TASK_SCHEDULED",
            begun,
            {
                "taskQueue": task_queue(self.task_queue),
                "startToCloseTimeout": WORKFLOW_TASK_TIMEOUT,
                "attempt": attempt,
            },
        )
        worker = {"identity": str(attrs["worker"])} if attrs.get("worker") else {}
        task: dict[str, Any] = {"scheduledEventId": _ref(scheduled)}
        started = self.add("WORKFLOW_TASK_STARTED", begun, task | worker)
        task["startedEventId"] = _ref(started)
        if event.type is EventType.WORKFLOW_TASK_COMPLETED:
            if not self.task_completed:
                task["sdkMetadata"] = {"coreUsedFlags": CHECKED_COMMANDS}
            self.task_completed = self.add("WORKFLOW_TASK_COMPLETED", event.at, task | worker)
            return
        task |= workflow_task_failure(attrs)
        self.add("WORKFLOW_TASK_FAILED", event.at, task | worker)

    def workflow_closed(self, event: Event, attrs: Mapping[str, Any]) -> None:
        """The workflow code closed the run."""
        if event.type is EventType.WORKFLOW_COMPLETED:
            self.command(
                "WORKFLOW_EXECUTION_COMPLETED",
                event.at,
                {"result": payloads([attrs.get("result")])},
            )
        elif event.type is EventType.WORKFLOW_FAILED:
            out = {"failure": failure(attrs["failure"]), "retryState": NO_RETRY_POLICY}
            self.command("WORKFLOW_EXECUTION_FAILED", event.at, out)
        elif event.type is EventType.WORKFLOW_CANCELED:
            self.command("WORKFLOW_EXECUTION_CANCELED", event.at, {})
        else:
            new_run = continued_as_new(attrs)
            self.command("WORKFLOW_EXECUTION_CONTINUED_AS_NEW", event.at, new_run)

    def workflow_ended(self, event: Event, attrs: Mapping[str, Any]) -> None:
        """What happened to the run from outside: a terminate, a timeout, a cancel request."""
        if event.type is EventType.WORKFLOW_TERMINATED:
            reason = {"reason": str(attrs["reason"])} if attrs.get("reason") else {}
            self.add("WORKFLOW_EXECUTION_TERMINATED", event.at, reason)
        elif event.type is EventType.WORKFLOW_TIMED_OUT:
            timed_out = {"retryState": NO_RETRY_POLICY}
            self.add("WORKFLOW_EXECUTION_TIMED_OUT", event.at, timed_out)
        else:
            self.add("WORKFLOW_EXECUTION_CANCEL_REQUESTED", event.at, {})

    def properties(self, event: Event, attrs: Mapping[str, Any]) -> None:
        """A memo or search attributes upsert."""
        if event.type is EventType.WORKFLOW_PROPERTIES_MODIFIED:
            memo = attrs.get("upserted_memo") or {}
            fields = {k: payload(v) for k, v in memo.items()}
            self.command(
                "WORKFLOW_PROPERTIES_MODIFIED", event.at, {"upsertedMemo": {"fields": fields}}
            )
            return
        upserted = attrs.get("search_attributes") or {}
        indexed = {k: search_attribute(v) for k, v in upserted.items()}
        self.command(
            "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
            event.at,
            {"searchAttributes": {"indexedFields": indexed}},
        )

    # activities

    def activity_scheduled(self, event: Event, attrs: Mapping[str, Any]) -> None:
        scheduled = self.command("ACTIVITY_TASK_SCHEDULED", event.at, activity_scheduled(attrs))
        self.scheduled[int(attrs.get("activity_seq") or 0)] = scheduled

    def activity_started(self, event: Event, attrs: Mapping[str, Any]) -> None:
        self.attempts[int(attrs.get("activity_seq") or 0)] = event

    def activity_retried(self, event: Event, attrs: Mapping[str, Any]) -> None:
        self.retried[int(attrs.get("activity_seq") or 0)] = attrs.get("failure")

    def activity_cancel_requested(self, event: Event, attrs: Mapping[str, Any]) -> None:
        seq = int(attrs.get("activity_seq") or 0)
        requested = {"scheduledEventId": _ref(self.scheduled.get(seq))}
        self.cancel_requested[seq] = self.command(
            "ACTIVITY_TASK_CANCEL_REQUESTED", event.at, requested
        )

    def activity_closed(self, event: Event, attrs: Mapping[str, Any]) -> None:
        """An activity's outcome, after its last attempt's ``ActivityTaskStarted``."""
        seq = int(attrs.get("activity_seq") or 0)
        out: dict[str, Any] = {"scheduledEventId": _ref(self.scheduled.get(seq))}
        attempt = self.attempts.pop(seq, None)
        if attempt is not None:
            started: dict[str, Any] = {
                "scheduledEventId": out["scheduledEventId"],
                "attempt": int(attempt.attributes.get("attempt") or 1),
            }
            if attempt.attributes.get("worker"):
                started["identity"] = str(attempt.attributes["worker"])
            if self.retried.get(seq):
                started["lastFailure"] = failure(self.retried[seq])
            out["startedEventId"] = _ref(self.add("ACTIVITY_TASK_STARTED", attempt.at, started))
        if event.type is EventType.ACTIVITY_COMPLETED:
            out["result"] = payloads([attrs.get("result")])
            self.add("ACTIVITY_TASK_COMPLETED", event.at, out)
            return
        if event.type is EventType.ACTIVITY_CANCELED:
            out["latestCancelRequestedEventId"] = _ref(self.cancel_requested.get(seq))
            self.add("ACTIVITY_TASK_CANCELED", event.at, out)
            return
        out |= outcome_failure(attrs) | {"retryState": outcome_retry_state(attrs)}
        failed = event.type is EventType.ACTIVITY_FAILED
        self.add("ACTIVITY_TASK_FAILED" if failed else "ACTIVITY_TASK_TIMED_OUT", event.at, out)

    # timers, signals, updates

    def timer(self, event: Event, attrs: Mapping[str, Any]) -> None:
        seq = int(attrs.get("timer_seq") or 0)
        out: dict[str, Any] = {"timerId": str(attrs.get("timer_id") or seq)}
        if event.type is EventType.TIMER_STARTED:
            out["startToFireTimeout"] = duration(attrs.get("duration"))
            self.timers[seq] = self.command("TIMER_STARTED", event.at, out)
            return
        out["startedEventId"] = _ref(self.timers.get(seq))
        if event.type is EventType.TIMER_FIRED:
            self.add("TIMER_FIRED", event.at, out)
        else:
            self.command("TIMER_CANCELED", event.at, out)

    def signal(self, event: Event, attrs: Mapping[str, Any]) -> None:
        out: dict[str, Any] = {"signalName": str(attrs.get("name") or "")}
        if attrs.get("args"):
            out["input"] = payloads(attrs["args"])
        self.add("WORKFLOW_EXECUTION_SIGNALED", event.at, out)

    def update(self, event: Event, attrs: Mapping[str, Any]) -> None:
        update_id = str(attrs.get("update_id") or "")
        meta = {"updateId": update_id}
        if event.type is EventType.WORKFLOW_UPDATE_ACCEPTED:
            request: dict[str, Any] = {"name": str(attrs.get("name") or "")}
            if attrs.get("args"):
                request["args"] = payloads(attrs["args"])
            accepted = {
                "protocolInstanceId": update_id,
                "acceptedRequestMessageId": f"{update_id}/request",
                "acceptedRequestSequencingEventId": _ref(self.task_completed),
                "acceptedRequest": {"meta": meta, "input": request},
            }
            self.updates[update_id] = self.add(
                "WORKFLOW_EXECUTION_UPDATE_ACCEPTED", event.at, accepted
            )
            return
        if attrs.get("failure"):
            outcome = {"failure": failure(attrs["failure"])}
        else:
            outcome = {"success": payloads([attrs.get("result")])}
        completed = {
            "meta": meta,
            "acceptedEventId": _ref(self.updates.get(update_id)),
            "outcome": outcome,
        }
        self.add("WORKFLOW_EXECUTION_UPDATE_COMPLETED", event.at, completed)

    # children and other workflows

    def child_started(self, event: Event, attrs: Mapping[str, Any]) -> None:
        """The initiation, then the child's start, or the refusal its outcome recorded."""
        seq = int(attrs.get("child_seq") or 0)
        out = child_initiated(attrs)
        initiated = self.command("START_CHILD_WORKFLOW_EXECUTION_INITIATED", event.at, out)
        outcome = self.child_outcomes.get(seq, {})
        if outcome.get("already_started"):
            self.children[seq] = (initiated, 0)
            return
        child = {"workflow_id": out["workflowId"], "run_id": outcome.get("run_id")}
        started = {
            "initiatedEventId": _ref(initiated),
            "workflowExecution": execution(child),
            "workflowType": out["workflowType"],
        }
        self.children[seq] = (
            initiated,
            self.add("CHILD_WORKFLOW_EXECUTION_STARTED", event.at, started),
        )

    def child_closed(self, event: Event, attrs: Mapping[str, Any]) -> None:
        initiated, started = self.children.get(int(attrs.get("child_seq") or 0), (0, 0))
        child_type = {"name": str(attrs.get("workflow_type") or "")}
        if attrs.get("already_started"):
            refused = {
                "workflowId": str(attrs.get("workflow_id") or ""),
                "workflowType": child_type,
                "cause": "START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS",
                "initiatedEventId": _ref(initiated),
            }
            self.command("START_CHILD_WORKFLOW_EXECUTION_FAILED", event.at, refused)
            return
        out: dict[str, Any] = {
            "workflowExecution": execution(attrs),
            "workflowType": child_type,
            "initiatedEventId": _ref(initiated),
            "startedEventId": _ref(started),
        }
        if event.type is EventType.CHILD_WORKFLOW_COMPLETED:
            out["result"] = payloads([attrs.get("result")])
        elif event.type is EventType.CHILD_WORKFLOW_FAILED:
            out |= outcome_failure(attrs) | {"retryState": outcome_retry_state(attrs)}
        elif event.type is EventType.CHILD_WORKFLOW_TIMED_OUT:
            out["retryState"] = outcome_retry_state(attrs)
        self.add(_CHILD_CLOSES[event.type], event.at, out)

    def external(self, event: Event, attrs: Mapping[str, Any]) -> None:
        """A signal or cancel request sent through an external handle, and its outcome."""
        signal = "signal_seq" in attrs
        seq = int(attrs.get("signal_seq" if signal else "cancel_seq") or 0)
        sent = self.signals if signal else self.cancels
        target = execution(attrs)
        t = EventType
        if event.type in (
            t.SIGNAL_EXTERNAL_WORKFLOW_INITIATED,
            t.REQUEST_CANCEL_EXTERNAL_WORKFLOW_INITIATED,
        ):
            out: dict[str, Any] = {"workflowExecution": target}
            if signal:
                out["signalName"] = str(attrs.get("name") or "")
                if attrs.get("args"):
                    out["input"] = payloads(attrs["args"])
            kind = "SIGNAL" if signal else "REQUEST_CANCEL"
            sent[seq] = self.command(f"{kind}_EXTERNAL_WORKFLOW_EXECUTION_INITIATED", event.at, out)
            return
        out = {"initiatedEventId": _ref(sent.get(seq)), "workflowExecution": target}
        if event.type is t.EXTERNAL_WORKFLOW_SIGNALED:
            self.add("EXTERNAL_WORKFLOW_EXECUTION_SIGNALED", event.at, out)
        elif event.type is t.EXTERNAL_WORKFLOW_CANCEL_REQUESTED:
            self.add("EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED", event.at, out)
        elif signal:
            out["cause"] = external_cause("SIGNAL", attrs)
            self.add("SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED", event.at, out)
        else:
            out["cause"] = external_cause("CANCEL", attrs)
            self.add("REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED", event.at, out)

    def marker(self, event: Event, attrs: Mapping[str, Any]) -> None:
        self.command("MARKER_RECORDED", event.at, marker(event))


EXPORTED_EVENT_TYPES: frozenset[EventType] = frozenset(_Export(())._handlers()) - {
    EventType.RETRY_SCHEDULED  # read for the next ActivityTaskStarted's lastFailure only
}
"""The turnout event types that have a Temporal counterpart in the export (an
``activity_started`` is exported for an activity's last attempt only)."""
