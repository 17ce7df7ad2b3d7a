"""Planning a workflow task's commit: what it appends, the run's new values, how it
closes the run and which activities its worker takes at once, worked out before any
write (pure functions: no database)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from turnout.contracts.errors import Failure
from turnout.contracts.events import EventType
from turnout.contracts.governance import decision_attributes
from turnout.contracts.states import RunState, sources_of
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.store.errors import StaleTaskError
from turnout.executors.internal.store.records import (
    ClaimedItem,
    EagerClaim,
    EventSpec,
    RunInfo,
    RunSnapshot,
    WorkflowTaskCommit,
)

__all__ = [
    "Conflict",
    "Plan",
    "close_target",
    "eager_activities",
    "lease_lost",
    "plan_commit",
    "run_updates",
    "runnable_activities",
]


@dataclass
class Plan:
    """What one commit writes, worked out before writing: its events, the run's new
    values, how it closes the run, and the activities its worker takes at once."""

    index: int
    """Where the commit stands in its batch."""
    commit: WorkflowTaskCommit
    run: RunSnapshot
    specs: list[EventSpec]
    values: dict[str, Any]
    closing: cmd.Command | None
    close: tuple[RunState, Any, Failure | None] | None
    requested: list[cmd.RequestApproval]
    taken: list[cmd.ScheduleActivity]
    seqs: range = range(0)
    info: RunInfo | None = None

    @property
    def arrived(self) -> bool:
        """Events were appended after the task read the history (unknown: assume so)."""
        seen = self.commit.seen_through
        return seen is None or self.seqs.start - 1 > seen


class Conflict(Exception):
    """The commit at ``index`` of a transaction cannot go through (its run moved on, or
    a signal it has not seen arrived): the transaction rolls back."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


def lease_lost(item: ClaimedItem) -> StaleTaskError:
    """The refusal of a commit whose task was no longer leased to its worker."""
    return StaleTaskError(f"workflow task {item.id} is no longer leased to {item.lease_owner}")


def plan_commit(index: int, c: WorkflowTaskCommit, run: RunSnapshot, now: datetime) -> Plan:
    """What committing ``c`` writes, given its run's row as the task read it."""
    specs: list[EventSpec] = [
        (
            EventType.WORKFLOW_TASK_COMPLETED,
            {
                "processed_through": c.processed_through,
                "time": c.time.isoformat(),
                "worker": c.item.lease_owner,
                # The history the task began from (workflow.info()'s length on replay).
                "history_length": c.seen_through,
            },
        )
    ]
    specs.extend((EventType.POLICY_DECIDED, decision_attributes(d)) for d in c.decisions)
    closing: cmd.Command | None = None
    for command in c.commands:
        if not command.appended:
            continue
        if command.closes is not None:
            closing = command  # its event goes with its close
            continue
        specs.append((command.event_type, command.attributes()))
    values: dict[str, Any] = {
        "workflow_task_count": c.expected_task_count + 1,
        "sticky_worker": c.item.lease_owner if c.sticky else None,
    }
    # The state this task's transitions start from (its commit is guarded by it). Whoever
    # moves it meanwhile (an approval decided, a cancel) queues a task of its own, which
    # redoes this one.
    state = run.state
    if state == RunState.CLAIMED.value:
        specs.append((EventType.STATE_CHANGED, {"from": state, "to": RunState.RUNNING.value}))
        state = values["state"] = RunState.RUNNING.value
    requested = [x for x in c.commands if isinstance(x, cmd.RequestApproval)]
    if requested and closing is None and state == RunState.RUNNING.value:
        specs.append(
            (EventType.STATE_CHANGED, {"from": state, "to": RunState.WAITING_APPROVAL.value})
        )
        values["state"] = RunState.WAITING_APPROVAL.value
    # The activities this worker takes at once: started in this very append.
    taken = eager_activities(c.commands, c.eager) if closing is None else []
    specs.extend(
        (
            EventType.ACTIVITY_STARTED,
            {
                "activity_seq": a.seq,
                "activity_id": a.attributes().get("activity_id"),
                "activity_type": a.activity_type,
                "attempt": 1,
                "worker": c.eager.owner if c.eager else None,
            },
        )
        for a in taken
    )
    # A plain close (complete, fail, cancel) is part of the same append; a cron run's
    # close starts its next run, applied on its own (apply.py).
    cron = (run.options or {}).get("cron_schedule")
    close = None if cron else close_target(closing, state)
    if close is not None and closing is not None:
        target, result, failure = close
        specs.append((closing.event_type, closing.attributes()))
        specs.append((EventType.STATE_CHANGED, {"from": state, "to": target.value}))
        values.update(state=target.value, closed_at=now, result=result)
        if failure is not None:
            values["failure"] = failure.model_dump(mode="json")
    return Plan(index, c, run, specs, values, closing, close, list(requested), taken)


def eager_activities(
    commands: Sequence[cmd.Command], eager: EagerClaim | None
) -> list[cmd.ScheduleActivity]:
    """The activities of ``commands`` that ``eager``'s worker runs and has slots for."""
    if eager is None or eager.limit <= 0:
        return []
    return runnable_activities(commands, eager.task_queue, eager.names)[: eager.limit]


def runnable_activities(
    commands: Sequence[cmd.Command], task_queue: str, names: Collection[str]
) -> list[cmd.ScheduleActivity]:
    """The activities ``commands`` schedule on ``task_queue`` with one of ``names`` (not
    those the same commands cancel at once): what a worker there could start at once."""
    canceled = {c.seq for c in commands if isinstance(c, cmd.RequestCancelActivity)}
    return [
        c
        for c in commands
        if isinstance(c, cmd.ScheduleActivity)
        and c.task_queue == task_queue
        and c.activity_type in names
        and c.seq not in canceled
    ]


def close_target(
    closing: cmd.Command | None, state: str
) -> tuple[RunState, Any, Failure | None] | None:
    """(state, result, failure) of a close that joins the commit's own append: complete,
    fail or cancel from a state the transition table allows (else None)."""
    if closing is None or closing.closes in (None, RunState.CONTINUED_AS_NEW):
        return None  # continuing as new starts a run: applied on its own (apply.py)
    target = closing.closes
    assert target is not None
    result, failure = closing.outcome()
    close = (target, result, failure)
    return close if RunState(state) in sources_of(close[0]) else None


def run_updates(
    plans: Sequence[Plan],
) -> tuple[tuple[str, ...], frozenset[str], list[dict[str, Any]]]:
    """What a batch of plans changes in its runs, as the rows of one JSON document (the
    dialects' batched update statements read it): the columns set (``names``), those only
    some plans set (``partial``), and per plan ``{run_id, n, expected_count, read_state,
    set_<name>..., has_<name>...}``."""
    names = tuple(sorted({name for p in plans for name in p.values}))
    partial = frozenset(n for n in names if any(n not in p.values for p in plans))
    rows = []
    for p in plans:
        row = {
            "run_id": p.run.run_id,
            "n": len(p.specs),
            "expected_count": p.commit.expected_task_count,
            "read_state": p.run.state,
        }
        for name in names:
            row[f"set_{name}"] = p.values.get(name)
            if name in partial:
                row[f"has_{name}"] = name in p.values
        rows.append(row)
    return names, partial, rows
