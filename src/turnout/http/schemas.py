"""The API's request and response bodies (pydantic), and its OpenAPI 3.1 document.

The bodies live in :mod:`turnout.http.models`, the document in :mod:`turnout.http.openapi`.
"""

from __future__ import annotations

from turnout.http.models import (
    Accepted,
    ApprovalList,
    DecisionRequest,
    ErrorBody,
    Health,
    QueryAnswer,
    QueueList,
    QueueView,
    RunList,
    RunView,
    SignalAccepted,
    SignalRequest,
    StartRequest,
    StartResponse,
    TerminateRequest,
    WorkerList,
)
from turnout.http.openapi import OPENAPI_VERSION, openapi_document

__all__ = [
    "OPENAPI_VERSION",
    "Accepted",
    "ApprovalList",
    "DecisionRequest",
    "ErrorBody",
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
    "WorkerList",
    "openapi_document",
]
