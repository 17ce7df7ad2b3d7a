"""The API's request and response bodies (pydantic).

Run, Event, Approval, PolicyDecision and Artifact are the contracts' own records,
serialised as they are; the models here are the bodies the API adds around them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from turnout.contracts.governance import Approval
from turnout.contracts.records import Run
from turnout.contracts.states import RunState

__all__ = [
    "Accepted",
    "ApprovalList",
    "DecisionRequest",
    "ErrorBody",
    "ErrorDetail",
    "Health",
    "QueryAnswer",
    "QueueList",
    "QueueView",
    "RunList",
    "RunView",
    "SignalAccepted",
    "SignalRequest",
    "StartRequest",
    "StartResponse",
    "TerminateRequest",
]

_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StartRequest(_Body):
    """``POST /workflows``: what to start."""

    workflow: str = Field(min_length=1, max_length=255, pattern=_PRINTABLE)
    """The workflow type name (``@workflow.defn(name=...)``, else the class name)."""
    args: list[Any] = []
    """The workflow's arguments, as JSON values."""
    id: str | None = Field(default=None, min_length=1, max_length=255, pattern=_PRINTABLE)
    """The workflow id (business identity); a new UUID when absent."""
    task_queue: str = Field(min_length=1, max_length=255, pattern=_PRINTABLE)
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=255, pattern=_PRINTABLE
    )
    """Same as the ``Idempotency-Key`` header."""
    correlation_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=_PRINTABLE
    )
    """Carried by every event of the run (at most 64 characters); a new one when absent."""


class StartResponse(BaseModel):
    """What a start answers: the run's ids, its state and its correlation id."""

    workflow_id: str
    run_id: str
    state: RunState
    correlation_id: str


class SignalRequest(_Body):
    """``POST /workflows/{id}/signals/{name}``: the signal's arguments."""

    args: list[Any] = []


class TerminateRequest(_Body):
    """``POST /workflows/{id}/terminate``: why."""

    reason: str | None = Field(default=None, max_length=10_000)


class DecisionRequest(_Body):
    """``POST .../approvals/{name}/approve`` or ``.../reject``: who decides, and why."""

    by: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$")
    reason: str | None = Field(default=None, max_length=10_000)


class RunView(Run):
    """A run's record with its input (``null`` where the executor does not report it)."""

    input: list[Any] | None = None


class RunList(BaseModel):
    """One page of runs, newest first; ``next_cursor`` asks for the next page."""

    items: list[Run]
    next_cursor: str | None = None


class ApprovalList(BaseModel):
    """Pending approvals of the tenant, oldest first."""

    items: list[Approval]


class QueueView(BaseModel):
    """One task queue's figures (internal executor)."""

    task_queue: str
    depth: int
    """Items ready to be claimed now."""
    depth_by_kind: dict[str, int] = {}
    lag_seconds: float = 0.0
    """Age of the oldest ready item (0 when none is ready)."""
    leased: int = 0
    """Items a worker holds."""
    dead_letters: int = 0


class QueueList(BaseModel):
    """Task queues with their depth and lag; ``note`` says when figures are not available."""

    items: list[QueueView]
    note: str | None = None


class SignalAccepted(BaseModel):
    """The signal was recorded on the run."""

    workflow_id: str
    run_id: str
    signal: str


class QueryAnswer(BaseModel):
    """The query handler's answer."""

    result: Any = None


class Accepted(BaseModel):
    """A cancellation or termination was recorded."""

    workflow_id: str
    run_id: str
    requested: str
    """``cancel`` or ``terminate``."""


class Health(BaseModel):
    """``GET /healthz``."""

    status: str
    executor: str


class ErrorDetail(BaseModel):
    code: str
    """A stable snake_case code (docs/http-api.md lists them)."""
    message: str
    """What is wrong and how to fix it."""


class ErrorBody(BaseModel):
    """Every error response."""

    error: ErrorDetail
