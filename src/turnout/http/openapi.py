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
)

__all__ = ["OPENAPI_VERSION", "openapi_document"]

OPENAPI_VERSION = "3.1.0"

_NAME: dict[str, Any] = {"minLength": 1, "maxLength": 255, "pattern": r"^[^\x00-\x1f\x7f]+$"}
"""A name's constraints (the ``pattern`` of the bodies' names in :mod:`turnout.http.models`)."""


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
    SignalAccepted,
    QueryAnswer,
    Accepted,
    Health,
    ErrorBody,
    Event,
    Approval,
    PolicyDecision,
    Artifact,
]

_REQUEST_MODELS = {StartRequest, SignalRequest, TerminateRequest, DecisionRequest}


def _components() -> dict[str, Any]:
    keys = [(m, "validation" if m in _REQUEST_MODELS else "serialization") for m in _MODELS]
    _, schema = models_json_schema(keys, ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]
    return dict(schema.get("$defs", {}))


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": "the body is not JSON (invalid_json)",
    "401": "no token, or a token the server does not know (unauthorized)",
    "403": "a cookie-authenticated change without the X-Turnout-Console header (csrf); on a "
    "server without tokens, a request from another machine's name or site (forbidden)",
    "404": "no such run for this tenant (workflow_not_found), or no such approval",
    "409": "the run is closed, or the approval already decided",
    "413": "a payload over the server's limit (payload_too_large)",
    "422": "a body or parameter that is not valid (invalid_request, invalid_input, ...)",
    "502": "the Temporal server answered with an unexpected error (temporal_error)",
    "503": "the database or the Temporal server cannot be reached (executor_unavailable)",
    "504": "no worker answered a query in time (query_timeout)",
}


def _errors(*statuses: str) -> dict[str, Any]:
    return {s: _json(_ref("ErrorBody"), _ERRORS[s]) for s in statuses}


_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The workflow id (its latest run).",
    "schema": {"type": "string"},
}
_TYPE_PARAM = {
    "name": "type",
    "in": "query",
    "required": False,
    "description": "Only runs of this workflow type.",
    "schema": {"type": "string"},
}
_NAME_PARAM = {"in": "path", "required": True, "schema": {"type": "string"}}


def _operation(
    summary: str,
    op_id: str,
    responses: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    body: str | None = None,
    body_required: bool = True,
    errors: tuple[str, ...] = (),
    public: bool = False,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "operationId": op_id}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    statuses = set(errors) | ({"401", "422", "502", "503"} if not public else set())
    if body:
        statuses |= {"400", "403", "422"}
    op["responses"] = {**responses, **_errors(*sorted(statuses))}
    if public:
        op["security"] = []
    return op


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
            "get": _operation(
                "Liveness of the server and its executor (no token needed)",
                "health",
                {"200": _json(_ref("Health"), "the server answers")},
                public=True,
            )
        },
        "/workflows": {
            "post": _operation(
                "Start a workflow run; answers at once, before any worker runs it",
                "startWorkflow",
                {
                    "202": _json(_ref("StartResponse"), "the run was created and is queued"),
                    "200": _json(
                        _ref("StartResponse"),
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
                        "schema": {"type": "string", **_NAME},
                    }
                ],
                body="StartRequest",
                errors=("409", "413"),
            ),
            "get": _operation(
                "List runs, newest first, filtered and paginated",
                "listWorkflows",
                {"200": _json(_ref("RunList"), "one page of runs")},
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
            "get": _operation(
                "A run's record: state, input, result or failure",
                "describeWorkflow",
                {"200": _json(_ref("RunView"), "the latest run of the workflow id")},
                params=run_sub,
                errors=("404",),
            )
        },
        "/workflows/{id}/events": {
            "get": _operation(
                "The run's event timeline (JSON), or a live stream of it "
                "(Accept: text/event-stream)",
                "workflowEvents",
                {
                    "200": {
                        "description": "events with seq > after, in seq order",
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": _ref("Event")}
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
            "post": _operation(
                "Send a signal to the open run",
                "signalWorkflow",
                {"202": _json(_ref("SignalAccepted"), "the signal is recorded")},
                params=[*run_sub, {"name": "name", **_NAME_PARAM}],
                body="SignalRequest",
                body_required=False,
                errors=("404", "409", "413"),
            )
        },
        "/workflows/{id}/queries/{name}": {
            "get": _operation(
                "Ask a query handler of the run",
                "queryWorkflow",
                {"200": _json(_ref("QueryAnswer"), "the handler's answer")},
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
            "post": _operation(
                "Request cancellation of the open run",
                "cancelWorkflow",
                {"202": _json(_ref("Accepted"), "the cancellation request is recorded")},
                params=run_sub,
                errors=("403", "404", "409"),
            )
        },
        "/workflows/{id}/terminate": {
            "post": _operation(
                "End the open run at once",
                "terminateWorkflow",
                {"200": _json(_ref("Accepted"), "the run is terminated")},
                params=run_sub,
                body="TerminateRequest",
                body_required=False,
                errors=("404", "409"),
            )
        },
        "/approvals": {
            "get": _operation(
                "Approvals of the tenant waiting on a decision, oldest first",
                "pendingApprovals",
                {"200": _json(_ref("ApprovalList"), "pending approvals")},
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
            "get": _operation(
                "Every approval the run asked for, pending or decided",
                "workflowApprovals",
                {"200": _json({"type": "array", "items": _ref("Approval")}, "oldest first")},
                params=run_sub,
                errors=("404",),
            )
        },
        "/workflows/{id}/decisions": {
            "get": _operation(
                "The run's policy decisions and approval decisions",
                "workflowDecisions",
                {"200": _json({"type": "array", "items": _ref("PolicyDecision")}, "oldest first")},
                params=run_sub,
                errors=("404",),
            )
        },
        "/workflows/{id}/artifacts": {
            "get": _operation(
                "Metadata of the artifacts the run's activities recorded",
                "workflowArtifacts",
                {"200": _json({"type": "array", "items": _ref("Artifact")}, "oldest first")},
                params=run_sub,
                errors=("404",),
            )
        },
        "/queues": {
            "get": _operation(
                "Task queues with their depth and lag",
                "queues",
                {"200": _json(_ref("QueueList"), "the tenant's task queues")},
            )
        },
    }
    for verb in ("approve", "reject"):
        paths[f"/workflows/{{id}}/approvals/{{name}}/{verb}"] = {
            "post": _operation(
                f"{verb.title()} the run's pending approval (a decision is final)",
                f"{verb}Approval",
                {"200": _json(_ref("PolicyDecision"), "the recorded decision")},
                params=[*run_sub, {"name": "name", **_NAME_PARAM}],
                body="DecisionRequest",
                errors=("404", "409"),
            )
        }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "turnout HTTP API",
            "version": "1",
            "description": "Start, watch and steer durable workflow runs; decide approvals. "
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
