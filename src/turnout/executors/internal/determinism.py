"""The determinism check of replay: do the commands the code produces now match history?

A replayed workflow task must produce, in order, the commands its recorded
``WORKFLOW_TASK_COMPLETED`` was followed by. :func:`nondeterminism` compares the two
lists and describes the first difference; it needs nothing but the produced commands
and the recorded events, so it is tested without a workflow instance.
"""

from __future__ import annotations

from collections.abc import Sequence

from turnout.contracts.errors import NonDeterminismError
from turnout.contracts.events import COMMAND_EVENT_TYPES, Event, EventType
from turnout.contracts.governance import START_GATE
from turnout.executors.internal.commands import Command, RecordMarker, recorded_key

__all__ = ["is_start_gate", "nondeterminism"]


def is_start_gate(event: Event) -> bool:
    """True for the approval request a start policy records before the workflow code runs.

    No workflow code produces it, so replay neither expects nor checks it.
    """
    return event.type is EventType.APPROVAL_REQUESTED and event.attributes.get("gate") == START_GATE


def nondeterminism(
    produced: Sequence[Command], recorded: Sequence[Event], task_seq: int
) -> NonDeterminismError | None:
    """The error to raise when ``produced`` contradicts ``recorded``, or None when they agree.

    ``task_seq`` is the seq of the recorded workflow task (for the message). A patch
    marker recorded for a patch the code no longer asks about is skipped, as is the
    start gate's approval request.
    """
    commands = [c for c in produced if c.appended and c.event_type in COMMAND_EVENT_TYPES]
    produced_markers = {c.patch_id for c in commands if isinstance(c, RecordMarker)}
    events = [
        e
        for e in recorded
        if not is_start_gate(e)
        and not (
            e.type is EventType.MARKER_RECORDED
            and e.attributes.get("marker", "patch") == "patch"
            and e.attributes.get("patch_id") not in produced_markers
        )
    ]
    for index, event in enumerate(events):
        key = recorded_key(event.type, event.attributes)
        if index >= len(commands):
            return NonDeterminismError(
                f"history event {event.seq} ({event.type.value} {key}) recorded by workflow "
                f"task {task_seq} is no longer produced by the workflow code"
            )
        command = commands[index]
        if command.event_type is not event.type or command.key() != key:
            return NonDeterminismError(
                f"history event {event.seq} recorded {event.type.value} {key}, but the workflow "
                f"code now produces {command.event_type.value} {command.key()} at that point; "
                f"guard the change with workflow.patched()"
            )
    if len(commands) > len(events):
        extra = commands[len(events)]
        return NonDeterminismError(
            f"workflow task {task_seq}: the workflow code now produces "
            f"{extra.event_type.value} {extra.key()} that the history does not record; "
            f"guard the change with workflow.patched()"
        )
    return None
