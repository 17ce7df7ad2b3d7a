"""The API's OpenAPI 3.1 document, served at ``/openapi.json``: every route, its
parameters, bodies and error statuses (the bodies' schemas from :mod:`turnout.http.models`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from turnout.contracts.events import Event
from turnout.contracts.governance import Approval
from turnout.contracts.records import Artifact, PolicyDecision
from turnout.contracts.states import RunState
from turnout.http.models import (
    Accepted,
    ApprovalList,
    DecisionRequest,
    ErrorBody,
    Health,
    QueryAnswer,
    QueueList,
    RunList,
    RunView,
    SignalAccepted,
    SignalRequest,
    StartRequest,
    StartResponse,
    TerminateRequest,
    WorkerList,
)
from turnout.http.openapi_parts import (
    NAME,
    json_content,
    operation,
    path_id,
    query_param,
    ref,
)
from turnout.http.openapi_schedules import (
    SCHEDULE_MODELS,
    SCHEDULE_REQUEST_MODELS,
    schedule_paths,
)

__all__ = ["OPENAPI_VERSION", "openapi_document"]

OPENAPI_VERSION = "3.1.0"

_MODELS: list[type[BaseModel]] = [
    StartRequest,
    StartResponse,
    SignalRequest,
    TerminateRequest,
    DecisionRequest,
    RunView,
    RunList,
    ApprovalList,
    QueueList,
    WorkerList,
    SignalAccepted,
    QueryAnswer,
    Accepted,
    Health,
    ErrorBody,
    Event,
    Approval,
    PolicyDecision,
    Artifact,
    *SCHEDULE_MODELS,
]

_REQUEST_MODELS = {
    StartRequest,
    SignalRequest,
    TerminateRequest,
    DecisionRequest,
    *SCHEDULE_REQUEST_MODELS,
}


def _components() -> dict[str, Any]:
    keys = [(m, "validation" if m in _REQUEST_MODELS else "serialization") for m in _MODELS]
    _, schema = models_json_schema(keys, ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]
    return dict(schema.get("$defs", {}))


_ID = path_id("The workflow id (its latest run).")
_TYPE_PARAM = {
    "name": "type",
    "in": "query",
    "required": False,
    "description": "Only runs of this workflow type.",
    "schema": {"type": "string"},
}
_NAME_PARAM = {"in": "path", "required": True, "schema": {"type": "string"}}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document served at ``/openapi.json``."""
    run_sub = [_ID]
    sse = {
        "type": "string",
        "description": "Server-sent events: `id:` the seq, `event:` the type, `data:` the "
        "event's JSON; the stream ends when the run has closed.",
    }
    paths: dict[str, Any] = {
        "/healthz": {
            "get": operation(
                "Liveness of the server and its executor (no token needed)",
                "health",
                {"200": json_content(ref("Health"), "the server answers")},
                public=True,
            )
        },
        "/workflows": {
            "post": operation(
                "Start a workflow run; answers at once, before any worker runs it",
                "startWorkflow",
                {
                    "202": json_content(ref("StartResponse"), "the run was created and is queued"),
                    "200": json_content(
                        ref("StartResponse"),
                        "the Idempotency-Key matched an earlier start: that run, as it is now",
                    ),
                },
                params=[
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "A retried start with the same key returns the same "
                        "run instead of starting another.",
                        "schema": {"type": "string", **NAME},
                    }
                ],
                body="StartRequest",
                errors=("409", "413"),
            ),
            "get": operation(
                "List runs, newest first, filtered and paginated",
                "listWorkflows",
                {"200": json_content(ref("RunList"), "one page of runs")},
                params=[
                    {
                        "name": "query",
                        "in": "query",
                        "required": False,
                        "description": "A list query in Temporal's language, without ORDER BY "
                        "(e.g. `CustomerId = 'acme' AND ExecutionStatus = 'Running'`); a "
                        "malformed one is refused with 422, naming the token.",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "state",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": [s.value for s in RunState]},
                    },
                    _TYPE_PARAM,
                    {
                        "name": "task_queue",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "required": False,
                        "description": "`next_cursor` of the previous page.",
                        "schema": {"type": "string"},
                    },
                ],
                errors=("422",),
            ),
        },
        "/workflows/{id}": {
            "get": operation(
                "A run's record: state, input, result or failure",
                "describeWorkflow",
                {"200": json_content(ref("RunView"), "the latest run of the workflow id")},
                params=run_sub,
                errors=("404",),
            )
        },
        "/workflows/{id}/events": {
            "get": operation(
                "The run's event timeline (JSON), or a live stream of it "
                "(Accept: text/event-stream)",
                "workflowEvents",
                {
                    "200": {
                        "description": "events with seq > after, in seq order",
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": ref("Event")}
                            },
                            "text/event-stream": {"schema": sse},
                        },
                    }
                },
                params=[
                    *run_sub,
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "description": "Only events with a greater seq.",
                        "schema": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": 2**31 - 1,
                            "default": 0,
                        },
                    },
                ],
                errors=("404", "422"),
            )
        },
        "/workflows/{id}/signals/{name}": {
            "post": operation(
                "Send a signal to the open run",
                "signalWorkflow",
                {"202": json_content(ref("SignalAccepted"), "the signal is recorded")},
                params=[*run_sub, {"name": "name", **_NAME_PARAM}],
                body="SignalRequest",
                body_required=False,
                errors=("404", "409", "413"),
            )
        },
        "/workflows/{id}/queries/{name}": {
            "get": operation(
                "Ask a query handler of the run",
                "queryWorkflow",
                {"200": json_content(ref("QueryAnswer"), "the handler's answer")},
                params=[
                    *run_sub,
                    {"name": "name", **_NAME_PARAM},
                    {
                        "name": "args",
                        "in": "query",
                        "required": False,
                        "description": 'The query\'s arguments as a JSON array, e.g. `[1, "x"]`.',
                        "schema": {"type": "string"},
                    },
                ],
                errors=("404", "422", "504"),
            )
        },
        "/workflows/{id}/cancel": {
            "post": operation(
                "Request cancellation of the open run",
                "cancelWorkflow",
                {"202": json_content(ref("Accepted"), "the cancellation request is recorded")},
                params=run_sub,
                errors=("403", "404", "409"),
            )
        },
        "/workflows/{id}/terminate": {
            "post": operation(
                "End the open run at once",
                "terminateWorkflow",
                {"200": json_content(ref("Accepted"), "the run is terminated")},
                params=run_sub,
                body="TerminateRequest",
                body_required=False,
                errors=("404", "409"),
            )
        },
        "/approvals": {
            "get": operation(
                "Approvals of the tenant waiting on a decision, oldest first",
                "pendingApprovals",
                {"200": json_content(ref("ApprovalList"), "pending approvals")},
                params=[
                    _TYPE_PARAM,
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                    },
                ],
                errors=("422",),
            )
        },
        "/workflows/{id}/approvals": {
            "get": operation(
                "Every approval the run asked for, pending or decided",
                "workflowApprovals",
                {"200": json_content({"type": "array", "items": ref("Approval")}, "oldest first")},
                params=run_sub,
                errors=("404",),
            )
        },
        "/workflows/{id}/decisions": {
            "get": operation(
                "The run's policy decisions and approval decisions",
                "workflowDecisions",
                {
                    "200": json_content(
                        {"type": "array", "items": ref("PolicyDecision")}, "oldest first"
                    )
                },
                params=run_sub,
                errors=("404",),
            )
        },
        "/workflows/{id}/artifacts": {
            "get": operation(
                "Metadata of the artifacts the run's activities recorded",
                "workflowArtifacts",
                {"200": json_content({"type": "array", "items": ref("Artifact")}, "oldest first")},
                params=run_sub,
                errors=("404",),
            )
        },
        "/queues": {
            "get": operation(
                "Task queues with their depth, lag and the workers polling them",
                "queues",
                {"200": json_content(ref("QueueList"), "the tenant's task queues")},
                params=[
                    query_param(
                        "task_queue", "Only this task queue (on Temporal: needed for workers)."
                    )
                ],
                errors=("422",),
            )
        },
        "/workers": {
            "get": operation(
                "The tenant's live workers, by task queue and identity",
                "workers",
                {"200": json_content(ref("WorkerList"), "the live workers")},
                params=[
                    query_param(
                        "task_queue", "Only this task queue's workers (required on Temporal)."
                    )
                ],
                errors=("422",),
            )
        },
    }
    for verb in ("approve", "reject"):
        paths[f"/workflows/{{id}}/approvals/{{name}}/{verb}"] = {
            "post": operation(
                f"{verb.title()} the run's pending approval (a decision is final)",
                f"{verb}Approval",
                {"200": json_content(ref("PolicyDecision"), "the recorded decision")},
                params=[*run_sub, {"name": "name", **_NAME_PARAM}],
                body="DecisionRequest",
                errors=("404", "409"),
            )
        }
    paths.update(schedule_paths())
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "turnout HTTP API",
            "version": "1",
            "description": "Start, watch and steer durable workflow runs; decide approvals; "
            "keep schedules. "
            "Every route but /healthz and /openapi.json needs a token (docs/http-api.md).",
        },
        "paths": paths,
        "components": {
            "schemas": _components(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "turnout_token"},
            },
        },
        "security": [{"bearer": []}, {"cookie": []}],
    }
