"""What the JSON routes share: reading the request (body, path and query parameters), the
tenant's client and the run a path names, and answering as JSON.

The auth middleware (``turnout.http.app``) has put the tenant's client on
``request.state.client`` before any route runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from turnout.contracts.executor import ClientCapabilities
from turnout.contracts.records import Run
from turnout.http.errors import ApiError, InvalidInput, error_response, from_exception
from turnout.http.limits import name_problem, parse_json_body, refuse_unstorable

__all__ = [
    "ENCODED_SLASH",
    "MAX_SEQ",
    "Handler",
    "capabilities_of",
    "checking_input",
    "client_of",
    "guarded",
    "int_param",
    "json_response",
    "open_run_of",
    "path_param",
    "read_body",
    "read_model",
    "run_of",
    "safe_path_param",
    "text_param",
]

MAX_SEQ = 2**31 - 1
"""The largest event seq (``after``, ``Last-Event-ID``) a request may name."""

ENCODED_SLASH = "\x1f"
"""What an encoded slash (``%2F``) of a request's path stands as while it is routed
(``turnout.http.app`` puts it there), so that a workflow id such as ``a/events`` sent as
``a%2Fevents`` is not taken for the ``/events`` route of ``a``."""

_M = TypeVar("_M", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]


def json_response(model: BaseModel | list[Any] | dict[str, Any], status: int = 200) -> JSONResponse:
    """``model`` (a pydantic model, a list of them, or plain JSON) as a JSON response."""
    if isinstance(model, BaseModel):
        content: Any = model.model_dump(mode="json")
    elif isinstance(model, list):
        content = [m.model_dump(mode="json") if isinstance(m, BaseModel) else m for m in model]
    else:
        content = model
    return JSONResponse(content, status_code=status)


def guarded(handler: Handler) -> Handler:
    """Answer every exception of a handler as the API's JSON error."""

    @functools.wraps(handler)
    async def route(request: Request) -> Response:
        try:
            return await handler(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return error_response(from_exception(exc))

    return route


@contextlib.contextmanager
def checking_input() -> Iterator[None]:
    """Answer the TypeError or ValueError a client raises on the request's input as 422.

    Only around calls whose such errors come from the request (start, signal, decide):
    elsewhere they are the server's bugs.
    """
    try:
        yield
    except (TypeError, ValueError) as exc:
        raise InvalidInput(exc) from exc


async def read_body(request: Request) -> bytes:
    """The body, refused (413) once it passes the payload limit plus room for the envelope."""
    limit = request.app.state.turnout.settings.max_payload_bytes + 64 * 1024
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413,
                "payload_too_large",
                f"the request body is over {limit:,} bytes (TURNOUT_MAX_PAYLOAD_BYTES plus "
                "64 KiB); store large data elsewhere and pass a reference",
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def read_model(request: Request, model: type[_M], *, optional: bool = False) -> _M:
    """The body as ``model`` (an empty body is ``model()`` when ``optional``), or 422."""
    raw = await read_body(request)
    if not raw.strip() and optional:
        return model()
    value = parse_json_body(raw)
    try:
        parsed = model.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise ApiError(
            422, "invalid_request", f"the body is not a valid {model.__name__}: {problems}"
        ) from None
    refuse_unstorable(value)
    return parsed


def client_of(request: Request) -> Any:
    """The client of the request's tenant."""
    return request.state.client


def capabilities_of(client: Any) -> ClientCapabilities:
    """What ``client`` can do beyond the Client protocol (none, for a client that does not
    say)."""
    found = getattr(client, "capabilities", None)
    return found if isinstance(found, ClientCapabilities) else ClientCapabilities()


def path_param(request: Request, name: str) -> str:
    """A path parameter, its encoded slashes restored."""
    value: str = request.path_params[name]
    if request.scope.get("state", {}).get("encoded_slashes"):
        value = value.replace(ENCODED_SLASH, "/")
    return value


def safe_path_param(request: Request, name: str) -> str:
    """A path parameter; one no run could have (control characters) is simply not found."""
    value = path_param(request, name)
    if name_problem(value, name) is None:
        return value
    if name == "id":
        raise ApiError(
            404,
            "workflow_not_found",
            f"workflow {value[:80]!r} was not found: a workflow id is 1-255 printable characters",
        )
    raise ApiError(
        404,
        "not_found",
        f"{name} {value[:80]!r} was not found: a name is 1-255 printable characters",
    )


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter from ``low`` to ``high`` (422 otherwise)."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError(
            422,
            "invalid_parameter",
            f"{name}={raw!r} is not valid: give a whole number from {low} to {high}",
        )
    return value


def text_param(request: Request, name: str) -> str | None:
    """A name-like query parameter (None when absent or empty; 422 when not a name)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    problem = name_problem(raw, name)
    if problem is not None:
        raise ApiError(422, "invalid_parameter", problem)
    return raw


async def run_of(request: Request) -> tuple[Any, Run]:
    """The handle of the path's workflow id, pinned to its latest run, and that run."""
    workflow_id = safe_path_param(request, "id")
    client = client_of(request)
    run: Run = await client.get_workflow_handle(workflow_id).describe()
    return client.get_workflow_handle(workflow_id, run_id=run.run_id), run


async def open_run_of(request: Request, action: str) -> tuple[Any, Run]:
    """As :func:`run_of`, refused (409) when the run is closed: ``action`` needs it open."""
    handle, run = await run_of(request)
    if run.state.is_terminal:
        raise ApiError(
            409,
            "run_closed",
            f"workflow {run.workflow_id!r} run {run.run_id} is {run.state.value}; {action} needs "
            "an open run (start a new one with POST /workflows)",
        )
    return handle, run
