"""``WorkflowHistory``: a run's history as ``handle.fetch_history()`` returns it, to keep,
export as JSON and replay with ``turnout.worker.Replayer``.

Its ``events`` are the run's timeline in turnout's contract events, on every executor.
Its JSON is Temporal's history JSON on every executor, as temporalio's ``to_json`` writes
it (the document ``temporal workflow show --output json`` prints):

- a history fetched from Temporal keeps Temporal's own history (``temporal``), which its
  JSON is and which Temporal's replayer reads;
- a history recorded by the internal executor is written as the Temporal events its
  events correspond to (``turnout.contracts.history_export``), and its own events, which
  carry every input and result, go alongside under the key ``"turnout"``, which
  Temporal's parsers ignore. ``WorkflowHistory.from_json`` reads them back from there,
  so the history still replays on the internal engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from turnout.contracts.events import Event
from turnout.contracts.history_export import temporal_history

__all__ = ["TURNOUT_KEY", "WorkflowHistory"]

TURNOUT_KEY = "turnout"
"""Where an internal history's JSON keeps the run's turnout events, beside Temporal's
``events`` (temporalio's and Temporal's parsers ignore keys they do not know)."""


@dataclass(frozen=True)
class WorkflowHistory:
    """A run's history (see the module docstring)."""

    workflow_id: str
    events: Sequence[Event] = ()
    """The run's timeline; empty for a Temporal history read back from JSON (replay it
    with ``turnout.worker.Replayer``)."""
    temporal: Mapping[str, Any] | None = field(default=None, repr=False)
    """Temporal's history document, for a run Temporal recorded."""

    @property
    def run_id(self) -> str:
        """The run this history belongs to."""
        if self.events:
            return self.events[0].run_id
        started = _first_temporal_event(self.temporal)
        attrs = started.get("workflowExecutionStartedEventAttributes", {})
        return str(attrs.get("originalExecutionRunId", ""))

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON document, Temporal's history: Temporal's own for a Temporal run; for
        an internal run, its events as Temporal's, with turnout's under ``"turnout"``."""
        if self.temporal is not None:
            return dict(self.temporal)
        own = {
            "workflow_id": self.workflow_id,
            "events": [event.model_dump(mode="json") for event in self.events],
        }
        return temporal_history(self.events) | {TURNOUT_KEY: own}

    def to_json(self) -> str:
        """:meth:`to_json_dict` as JSON text."""
        return json.dumps(self.to_json_dict())

    @staticmethod
    def from_json(workflow_id: str, history: str | Mapping[str, Any]) -> WorkflowHistory:
        """A history read back from :meth:`to_json`'s text or document, from
        ``temporal workflow show --output json``, or from ``turnout events --json``.

        An internal history's document is read from its turnout events (``"turnout"``);
        Temporal's events written beside them are derived from those and not read."""
        document = json.loads(history) if isinstance(history, str) else history
        if isinstance(document, list):  # turnout events --json prints a list of events
            document = {"events": document}
        if isinstance(document, Mapping) and isinstance(document.get(TURNOUT_KEY), Mapping):
            document = document[TURNOUT_KEY]  # an internal history, with Temporal's beside
        if not isinstance(document, Mapping) or not isinstance(document.get("events"), list):
            raise ValueError(
                "a workflow history is a JSON object with an 'events' list (as to_json, "
                "turnout events --json or temporal workflow show --output json write it)"
            )
        events = document["events"]
        if events and isinstance(events[0], Mapping) and "eventType" in events[0]:
            return WorkflowHistory(workflow_id, temporal=dict(document))
        try:
            return WorkflowHistory(workflow_id, [Event.model_validate(e) for e in events])
        except ValueError as exc:
            first = str(exc).splitlines()[0]
            raise ValueError(f"the history's events are not turnout events: {first}") from None


def _first_temporal_event(document: Mapping[str, Any] | None) -> Mapping[str, Any]:
    events = (document or {}).get("events") or [{}]
    first = events[0]
    return first if isinstance(first, Mapping) else {}
