"""``/workflows``: start and list runs; describe, signal, query, cancel and terminate one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from turnout.contracts.errors import WorkflowAlreadyStartedError, WorkflowNotFoundError
from turnout.contracts.records import IdConflictPolicy, IdReusePolicy, Run
from turnout.contracts.states import RunState
from turnout.contracts.visibility import InvalidQueryError, parse_query
from turnout.http.errors import ApiError
from turnout.http.limits import name_problem, parse_json_param
from turnout.http.routes.common import (
    capabilities_of,
    checking_input,
    client_of,
    guarded,
    int_param,
    json_response,
    open_run_of,
    read_model,
    run_of,
    safe_path_param,
    text_param,
)
from turnout.http.routes.pages import read_page
from turnout.http.schemas import (
    Accepted,
    QueryAnswer,
    RunList,
    RunView,
    SignalAccepted,
    SignalRequest,
    StartRequest,
    StartResponse,
    TerminateRequest,
)

__all__ = [
    "cancel_workflow",
    "checked_query",
    "describe_workflow",
    "list_workflows",
    "query_workflow",
    "signal_workflow",
    "start_workflow",
    "terminate_workflow",
    "workflows",
]


@guarded
async def start_workflow(request: Request) -> Response:
    """``POST /workflows``: create the run and answer at once (202), never waiting on it."""
    body = await read_model(request, StartRequest)
    header_key = request.headers.get("idempotency-key")
    if header_key is not None:
        header_key = header_key.strip()
        if name_problem(header_key, "the Idempotency-Key header") is not None:
            message = "the Idempotency-Key header must be 1-255 printable characters"
            raise ApiError(422, "invalid_parameter", message)
    if header_key and body.idempotency_key and header_key != body.idempotency_key:
        raise ApiError(
            422,
            "idempotency_key_mismatch",
            "the Idempotency-Key header and the body's idempotency_key differ; send one of them",
        )
    key = header_key or body.idempotency_key
    client = client_of(request)
    by_workflow_id = not capabilities_of(client).idempotency_keys
    # Without an id, the key names the workflow, so a retried start finds it on every
    # executor (without idempotency keys the workflow id is the only one there is).
    workflow_id = body.id or key or str(uuid.uuid4())
    options: dict[str, Any] = {}
    if key and by_workflow_id:
        options = {
            "id_conflict_policy": IdConflictPolicy.USE_EXISTING,
            "id_reuse_policy": IdReusePolicy.REJECT_DUPLICATE,
        }
    elif key:
        options = {"idempotency_key": key}
    asked_at = datetime.now(UTC)
    try:
        with checking_input():
            handle = await client.start_workflow(
                body.workflow,
                args=body.args,
                id=workflow_id,
                task_queue=body.task_queue,
                correlation_id=body.correlation_id,
                **options,
            )
    except WorkflowAlreadyStartedError:
        if not (key and by_workflow_id):
            raise
        handle = client.get_workflow_handle(workflow_id)  # a closed run of that id (key)
    try:
        started = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
        run: Run = await started.describe()
    except WorkflowNotFoundError:
        if not key:
            raise
        raise ApiError(
            409,
            "idempotency_key_reused",
            f"the idempotency key {key!r} was first used to start another workflow id; a key "
            "stands for one start: send a new key with a new start",
        ) from None
    created = getattr(handle, "created", None)
    if created is None:  # a handle that does not say: the run is older than the request
        created = not (key and run.requested_at < asked_at)
    if not created:
        return json_response(_start_response(run, run.state), 200)
    return json_response(_start_response(run, RunState.QUEUED), 202)


def _start_response(run: Run, state: RunState) -> StartResponse:
    return StartResponse(
        workflow_id=run.workflow_id,
        run_id=run.run_id,
        state=state,
        correlation_id=run.correlation_id,
    )


def checked_query(query: str | None) -> str | None:
    """``query``, a list query in Temporal's language, refused (422 ``invalid_input``, the
    message naming the offending token) when it cannot be read or has an ORDER BY: the
    pages of ``GET /workflows`` and of the console go newest first."""
    with checking_input():
        if query is not None and parse_query(query).order_by:
            raise InvalidQueryError(
                "GET /workflows pages newest first and takes no ORDER BY; leave it out (or "
                "order with the Python client's list_workflows)"
            )
    return query


@guarded
async def list_workflows(request: Request) -> Response:
    """``GET /workflows``: one page of runs, newest first (see :func:`read_page`), that
    ``query`` (Temporal's list query language, without ORDER BY) and the filters match."""
    raw_state = request.query_params.get("state")
    try:
        state = RunState(raw_state) if raw_state is not None else None
    except ValueError:
        raise ApiError(
            422,
            "invalid_parameter",
            f"state={raw_state!r} is not a run state; use one of "
            + ", ".join(s.value for s in RunState),
        ) from None
    limit = int_param(request, "limit", 50, 1, 500)
    query = checked_query(text_param(request, "query"))
    page, next_cursor = await read_page(
        client_of(request),
        query=query,
        state=state,
        workflow_type=text_param(request, "type"),
        task_queue=text_param(request, "task_queue"),
        limit=limit,
        cursor=text_param(request, "cursor"),
    )
    return json_response(RunList(items=page, next_cursor=next_cursor))


async def workflows(request: Request) -> Response:
    """``/workflows``: GET lists, POST starts (one route, so 405 answers list both)."""
    if request.method == "POST":
        return await start_workflow(request)
    return await list_workflows(request)


@guarded
async def describe_workflow(request: Request) -> Response:
    """``GET /workflows/{id}``: the latest run's record and input."""
    handle, run = await run_of(request)
    given = None
    if capabilities_of(client_of(request)).run_input:  # Temporal's history omits the input
        given = await handle.input()
    view = RunView(**run.model_dump(), input=given)
    return json_response(view)


@guarded
async def signal_workflow(request: Request) -> Response:
    """``POST /workflows/{id}/signals/{name}``."""
    name = safe_path_param(request, "name")
    body = await read_model(request, SignalRequest, optional=True)
    handle, run = await open_run_of(request, f"signal {name!r}")
    with checking_input():
        await handle.signal(name, args=body.args)
    return json_response(
        SignalAccepted(workflow_id=run.workflow_id, run_id=run.run_id, signal=name), 202
    )


@guarded
async def query_workflow(request: Request) -> Response:
    """``GET /workflows/{id}/queries/{name}?args=<json array>``."""
    name = safe_path_param(request, "name")
    raw = request.query_params.get("args")
    args: Any = []
    if raw:
        args = parse_json_param(raw, "args", "a JSON array of the query's arguments")
        if not isinstance(args, list):
            raise ApiError(
                422,
                "invalid_parameter",
                'args must be a JSON array of the query\'s arguments, e.g. args=["x", 1]',
            )
    handle, run = await run_of(request)
    timeout = request.app.state.turnout.query_timeout
    try:
        answer = await handle.query(name, args=args, rpc_timeout=timedelta(seconds=timeout))
    except TimeoutError:
        raise ApiError(
            504,
            "query_timeout",
            f"no answer to query {name!r} within {timeout:g} s: a worker polling task queue "
            f"{run.task_queue!r} answers queries; check that one is running and registers "
            f"{run.workflow_type}",
        ) from None
    try:
        return json_response(QueryAnswer(result=answer))
    except (TypeError, ValueError) as exc:
        raise ApiError(
            422, "query_failed", f"the answer of query {name!r} is not JSON ({exc})"
        ) from None


@guarded
async def cancel_workflow(request: Request) -> Response:
    """``POST /workflows/{id}/cancel``: the workflow sees the cancellation and may clean up."""
    handle, run = await open_run_of(request, "cancel")
    await handle.cancel()
    return json_response(
        Accepted(workflow_id=run.workflow_id, run_id=run.run_id, requested="cancel"), 202
    )


@guarded
async def terminate_workflow(request: Request) -> Response:
    """``POST /workflows/{id}/terminate``: end the run at once."""
    body = await read_model(request, TerminateRequest, optional=True)
    handle, run = await open_run_of(request, "terminate")
    await handle.terminate(reason=body.reason)
    return json_response(
        Accepted(workflow_id=run.workflow_id, run_id=run.run_id, requested="terminate")
    )
