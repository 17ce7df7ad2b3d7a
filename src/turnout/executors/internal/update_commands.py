"""The commands of workflow updates: accepted, rejected, completed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from turnout.contracts.errors import Failure
from turnout.contracts.events import EventType
from turnout.executors.internal.command_base import Declared

__all__ = ["AcceptUpdate", "CompleteUpdate", "RejectUpdate"]


@dataclass(frozen=True)
class AcceptUpdate(Declared):
    """The workflow accepted an update (its validator passed); its handler runs."""

    update_id: str
    name: str
    args: list[Any]
    header: dict[str, Any] = field(default_factory=dict)
    event_type: EventType = EventType.WORKFLOW_UPDATE_ACCEPTED

    def key(self) -> tuple[Any, ...]:
        return (self.update_id,)

    def attributes(self) -> dict[str, Any]:
        attrs = {"update_id": self.update_id, "name": self.name, "args": self.args}
        return {**attrs, "header": self.header} if self.header else attrs


@dataclass(frozen=True)
class RejectUpdate(Declared):
    """The workflow rejected an update: recorded on the request only, not in the history
    (as on Temporal), so replay neither produces nor expects it."""

    update_id: str
    failure: Failure
    event_type: EventType = EventType.WORKFLOW_UPDATE_COMPLETED
    appended: ClassVar[bool] = False

    def key(self) -> tuple[Any, ...]:
        return (self.update_id,)

    def attributes(self) -> dict[str, Any]:
        return {"update_id": self.update_id, "failure": self.failure.model_dump(mode="json")}


@dataclass(frozen=True)
class CompleteUpdate(Declared):
    """An accepted update's handler returned (``result``) or raised (``failure``)."""

    update_id: str
    result: Any = None
    failure: Failure | None = None
    event_type: EventType = EventType.WORKFLOW_UPDATE_COMPLETED

    def key(self) -> tuple[Any, ...]:
        return (self.update_id,)

    def payload(self) -> tuple[Any, str] | None:
        return self.result, f"the result of update {self.update_id}"

    def attributes(self) -> dict[str, Any]:
        if self.failure is not None:
            return {"update_id": self.update_id, "failure": self.failure.model_dump(mode="json")}
        return {"update_id": self.update_id, "result": self.result}
