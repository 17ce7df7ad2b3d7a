"""The records of query requests: what ``request_query`` and ``claim_queries`` take, what
a worker answers and what its caller reads (beside ``records.py``, which holds the rest)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["QueryAnswer", "QueryClaimParams", "QueryRequest", "QueryRequestParams"]


@dataclass(frozen=True)
class QueryRequestParams:
    """A query request for ``request_query``: query ``name`` of the tenant's run, for a
    worker of ``task_queue`` that has ``workflow_type`` registered, waited for until
    ``expires_at``."""

    tenant_id: str
    query_id: str
    run_id: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    name: str
    args: list[Any]
    """The encoded arguments."""
    expires_at: datetime
    header: dict[str, Any] = field(default_factory=dict)
    """The payloads the caller's interceptors set."""


@dataclass(frozen=True)
class QueryClaimParams:
    """Which requests ``claim_queries`` takes for ``owner``: at most ``limit`` still
    waiting on ``task_queue`` (of ``tenant_id`` when given) whose workflow type is one of
    ``workflow_types`` (None: any, for a worker with a dynamic workflow)."""

    task_queue: str
    owner: str
    workflow_types: frozenset[str] | None
    tenant_id: str | None = None
    limit: int = 16


@dataclass(frozen=True)
class QueryRequest:
    """A claimed query request: what a worker answers."""

    query_id: str
    run_id: str
    workflow_id: str
    workflow_type: str
    name: str
    args: list[Any]
    """The encoded arguments."""
    header: dict[str, Any] = field(default_factory=dict)
    """The payloads the caller's interceptors set."""


@dataclass(frozen=True)
class QueryAnswer:
    """A query's answer: the encoded ``result``, or ``error`` when the handler raised or
    the workflow has no handler of that name."""

    result: Any = None
    error: str | None = None
