"""The parts the OpenAPI document is built of: references to the bodies' schemas, JSON
contents, the error answers and one operation (:mod:`turnout.http.openapi` assembles them).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ERRORS",
    "NAME",
    "error_answers",
    "json_content",
    "operation",
    "path_id",
    "query_param",
    "ref",
]

NAME: dict[str, Any] = {"minLength": 1, "maxLength": 255, "pattern": r"^[^\x00-\x1f\x7f]+$"}
"""A name's constraints (the ``pattern`` of the bodies' names in :mod:`turnout.http.models`)."""


def path_id(description: str) -> dict[str, Any]:
    """The ``{id}`` parameter of a path."""
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def query_param(name: str, description: str) -> dict[str, Any]:
    """An optional string parameter of the query."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


def ref(name: str) -> dict[str, Any]:
    """A reference to the schema of body ``name`` in the document's components."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An answer of JSON with ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": "the body is not JSON (invalid_json)",
    "401": "no token, or a token the server does not know (unauthorized)",
    "403": "a cookie-authenticated change without the X-Turnout-Console header (csrf); on a "
    "server without tokens, a request from another machine's name or site (forbidden)",
    "404": "no such run (workflow_not_found) or schedule (schedule_not_found) for this tenant, "
    "or no such approval",
    "409": "the run is closed, the approval already decided, or the schedule id taken",
    "413": "a payload over the server's limit (payload_too_large)",
    "422": "a body or parameter that is not valid (invalid_request, invalid_input, ...)",
    "502": "the Temporal server answered with an unexpected error (temporal_error)",
    "503": "the database or the Temporal server cannot be reached (executor_unavailable)",
    "504": "no worker answered a query in time (query_timeout)",
}


def error_answers(*statuses: str) -> dict[str, Any]:
    """The error answers of ``statuses``, each the error envelope."""
    return {s: json_content(ref("ErrorBody"), ERRORS[s]) for s in statuses}


def operation(
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
    """One operation: its answers, parameters, body (a schema's name) and error statuses
    (every route with a token may answer 401, 422, 502 and 503; one with a body 400 and
    403 too)."""
    op: dict[str, Any] = {"summary": summary, "operationId": op_id}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": ref(body)}},
        }
    statuses = set(errors) | ({"401", "422", "502", "503"} if not public else set())
    if body:
        statuses |= {"400", "403", "422"}
    op["responses"] = {**responses, **error_answers(*sorted(statuses))}
    if public:
        op["security"] = []
    return op
