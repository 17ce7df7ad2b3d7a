"""The JSON routes of the HTTP API; each acts through the request's tenant client.

The auth middleware (``turnout.http.app``) has put the tenant's client on
``request.state.client`` before any of these runs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from turnout.contracts.errors import WorkflowAlreadyStartedError, WorkflowNotFoundError
from turnout.contracts.events import Event, EventType
from turnout.contracts.records import IdConflictPolicy, IdReusePolicy, Run
from turnout.contracts.states import RunState
from turnout.http.errors import ApiError, InvalidInput, error_response, from_exception
from turnout.http.limits import name_problem, parse_json_body, parse_json_param, refuse_unstorable
from turnout.http.schemas import (
    Accepted,
    ApprovalList,
    DecisionRequest,
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
)

__all__ = ["ENCODED_SLASH", "path_param", "read_page", "routes"]


MAX_SEQ = 2**31 - 1
"""The largest event seq (``after``, ``Last-Event-ID``) a request may name."""

log = logging.getLogger("turnout.http")

_M = TypeVar("_M", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]


def _json(model: BaseModel | list[Any] | dict[str, Any], status: int = 200) -> JSONResponse:
    if isinstance(model, BaseModel):
        content: Any = model.model_dump(mode="json")
    elif isinstance(model, list):
        content = [m.model_dump(mode="json") if isinstance(m, BaseModel) else m for m in model]
    else:
        content = model
    return JSONResponse(content, status_code=status)


def _guarded(handler: Handler) -> Handler:
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
def _checking_input() -> Iterator[None]:
    """Answer the TypeError or ValueError a client raises on the request's input as 422.

    Only around calls whose such errors come from the request (start, signal, decide):
    elsewhere they are the server's bugs.
    """
    try:
        yield
    except (TypeError, ValueError) as exc:
        raise InvalidInput(exc) from exc


async def _read_body(request: Request) -> bytes:
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


async def _body(request: Request, model: type[_M], *, optional: bool = False) -> _M:
    raw = await _read_body(request)
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


def _client(request: Request) -> Any:
    return request.state.client


ENCODED_SLASH = "\x1f"
"""What an encoded slash (``%2F``) of a request's path stands as while it is routed
(``turnout.http.app`` puts it there), so that a workflow id such as ``a/events`` sent as
``a%2Fevents`` is not taken for the ``/events`` route of ``a``."""


def path_param(request: Request, name: str) -> str:
    """A path parameter, its encoded slashes restored."""
    value: str = request.path_params[name]
    if request.scope.get("state", {}).get("encoded_slashes"):
        value = value.replace(ENCODED_SLASH, "/")
    return value


def _path(request: Request, name: str) -> str:
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


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
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


def _text_param(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    problem = name_problem(raw, name)
    if problem is not None:
        raise ApiError(422, "invalid_parameter", problem)
    return raw


async def _run_of(request: Request) -> tuple[Any, Run]:
    """The handle of the path's workflow id, pinned to its latest run, and that run."""
    workflow_id = _path(request, "id")
    client = _client(request)
    run: Run = await client.get_workflow_handle(workflow_id).describe()
    return client.get_workflow_handle(workflow_id, run_id=run.run_id), run


async def _open_run_of(request: Request, action: str) -> tuple[Any, Run]:
    handle, run = await _run_of(request)
    if run.state.is_terminal:
        raise ApiError(
            409,
            "run_closed",
            f"workflow {run.workflow_id!r} run {run.run_id} is {run.state.value}; {action} needs "
            "an open run (start a new one with POST /workflows)",
        )
    return handle, run


# -- routes ---------------------------------------------------------------------------------


async def health(request: Request) -> Response:
    """``GET /healthz``: unauthenticated liveness."""
    executor = request.app.state.turnout.executor
    return _json(Health(status="ok", executor=executor))


@_guarded
async def start_workflow(request: Request) -> Response:
    """``POST /workflows``: create the run and answer at once (202), never waiting on it."""
    body = await _body(request, StartRequest)
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
    client = _client(request)
    on_temporal = client.executor == "temporal"
    # Without an id, the key names the workflow, so a retried start finds it on every
    # executor (on Temporal the workflow id is the only idempotency key there is).
    workflow_id = body.id or key or str(uuid.uuid4())
    options: dict[str, Any] = {}
    if key and on_temporal:
        options = {
            "id_conflict_policy": IdConflictPolicy.USE_EXISTING,
            "id_reuse_policy": IdReusePolicy.REJECT_DUPLICATE,
        }
    elif key:
        options = {"idempotency_key": key}
    asked_at = datetime.now(UTC)
    try:
        with _checking_input():
            handle = await client.start_workflow(
                body.workflow,
                args=body.args,
                id=workflow_id,
                task_queue=body.task_queue,
                correlation_id=body.correlation_id,
                **options,
            )
    except WorkflowAlreadyStartedError:
        if not (key and on_temporal):
            raise
        handle = client.get_workflow_handle(workflow_id)  # a closed run of that id (key)
    try:
        run: Run = await client.get_workflow_handle(handle.id, run_id=handle.run_id).describe()
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
    if created is None:  # Temporal: the run was made before this request when it is older
        created = not (key and run.requested_at < asked_at)
    if not created:
        return _json(_start_response(run, run.state), 200)
    return _json(_start_response(run, RunState.QUEUED), 202)


def _start_response(run: Run, state: RunState) -> StartResponse:
    return StartResponse(
        workflow_id=run.workflow_id,
        run_id=run.run_id,
        state=state,
        correlation_id=run.correlation_id,
    )


def _encode_cursor(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor() -> ApiError:
    return ApiError(
        422,
        "invalid_cursor",
        "the cursor is not one this API gave; pass the next_cursor of the previous page "
        "unchanged, or leave it out for the first page",
    )


def _decode_cursor(cursor: str, on_temporal: bool) -> tuple[datetime, str] | bytes:
    """The position a cursor names: ``(requested_at, run_id)`` of the last run of the
    previous page (internal executor), or the visibility page token (Temporal, whose
    visibility store cannot sort by start time)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
        if on_temporal:
            return base64.b64decode(str(value["p"]), validate=True)
        at = datetime.fromisoformat(value["t"])
        if at.tzinfo is None:
            raise ValueError("not a UTC time")
        return at, str(value["r"])
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        raise _bad_cursor() from None


@_guarded
async def list_workflows(request: Request) -> Response:
    """``GET /workflows``: one page of runs, newest first.

    Each request reads at most ``limit + 1`` runs on the internal executor: the cursor is
    the keyset ``(requested_at, run_id)`` of the previous page's last run. On Temporal
    the cursor is the visibility listing's page token: a request reads one page of
    ``limit`` executions.
    """
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
    limit = _int_param(request, "limit", 50, 1, 500)
    page, next_cursor = await read_page(
        _client(request),
        state=state,
        workflow_type=_text_param(request, "type"),
        task_queue=_text_param(request, "task_queue"),
        limit=limit,
        cursor=_text_param(request, "cursor"),
    )
    return _json(RunList(items=page, next_cursor=next_cursor))


async def read_page(
    client: Any,
    *,
    state: RunState | None,
    workflow_type: str | None,
    task_queue: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Run], str | None]:
    """One page of runs, newest first, and the cursor of the next (None: the last page).

    Raises ApiError (422) for a cursor this API did not give.
    """
    filters: dict[str, Any] = {
        "state": state,
        "workflow_type": workflow_type,
        "task_queue": task_queue,
    }
    if client.executor == "temporal":
        token = _decode_cursor(cursor, True) if cursor else None
        assert token is None or isinstance(token, bytes)
        page, next_token = await client.list_workflows_page(
            **filters, limit=limit, page_token=token
        )
        if next_token:
            return page, _encode_cursor({"p": base64.b64encode(next_token).decode()})
        return page, None
    keyset = _decode_cursor(cursor, False) if cursor else None
    assert not isinstance(keyset, bytes)
    found = await client.list_workflows(**filters, limit=limit + 1, before=keyset)
    page = found[:limit]
    if len(found) > limit:
        last = page[-1]
        return page, _encode_cursor({"t": last.requested_at.isoformat(), "r": last.run_id})
    return page, None


async def workflows(request: Request) -> Response:
    """``/workflows``: GET lists, POST starts (one route, so 405 answers list both)."""
    if request.method == "POST":
        return await start_workflow(request)
    return await list_workflows(request)


@_guarded
async def describe_workflow(request: Request) -> Response:
    """``GET /workflows/{id}``: the latest run's record and input."""
    handle, run = await _run_of(request)
    given = None
    if _client(request).executor == "internal":  # Temporal's history events omit the input
        given = await handle.input()
    view = RunView(**run.model_dump(), input=given)
    return _json(view)


async def _events_after(request: Request, handle: Any, run: Run, after: int) -> list[Event]:
    client = _client(request)
    store = getattr(client, "store", None)
    if store is not None and client.executor == "internal":
        events: list[Event] = await store.events(client.tenant_id, run.run_id, after)
        return events
    return [e for e in await handle.events() if e.seq > after]


@_guarded
async def workflow_events(request: Request) -> Response:
    """``GET /workflows/{id}/events``: JSON, or a live SSE stream when asked for."""
    after = _int_param(request, "after", 0, 0, MAX_SEQ)
    handle, run = await _run_of(request)
    if "text/event-stream" not in request.headers.get("accept", ""):
        return _json(await _events_after(request, handle, run, after))
    last_id = request.headers.get("last-event-id")
    if last_id:
        try:
            after = int(last_id)
            if not 0 <= after <= MAX_SEQ:
                raise ValueError(last_id)
        except ValueError:
            raise ApiError(
                422, "invalid_parameter", f"Last-Event-ID {last_id!r} is not an event seq"
            ) from None
    poll = request.app.state.turnout.sse_poll_interval
    keepalive = request.app.state.turnout.sse_keepalive
    return StreamingResponse(
        _stream(request, handle, run, after, poll, keepalive),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


_CLOSING = frozenset(
    {
        EventType.WORKFLOW_COMPLETED,
        EventType.WORKFLOW_FAILED,
        EventType.WORKFLOW_CANCELED,
        EventType.WORKFLOW_TERMINATED,
        EventType.WORKFLOW_TIMED_OUT,
        EventType.WORKFLOW_CONTINUED_AS_NEW,
    }
)
"""Event types that close a run: a stream that sends one ends."""


class _Changes:
    """Wakes an event stream when its run may have new events.

    On the internal executor: the store's notifier for the run's channel (woken when the
    run closes), with a poll of the new events every ``poll`` seconds as the fallback.
    On Temporal: a long poll of the run's history (``wait_new_event``) in a background
    task, so the stream reads and maps the history again only when it grew.
    """

    def __init__(self, client: Any, run: Run, poll: float) -> None:
        self.client = client
        self.run = run
        self.poll = poll
        self.woken = asyncio.Event()
        self._exits = contextlib.ExitStack()
        self._follower: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _Changes:
        store = getattr(self.client, "store", None)
        if self.client.executor == "internal" and store is not None:
            from turnout.executors.internal.store.notify import run_channel

            if store.supports_listen_notify:
                await store.start_listening()
            subscription = store.notifier.subscribe(run_channel(self.run.run_id))
            self.woken = self._exits.enter_context(subscription)
        elif self.client.executor == "temporal":
            self._follower = asyncio.create_task(self._follow_temporal())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._exits.close()
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower

    async def _follow_temporal(self) -> None:
        raw = self.client.raw.get_workflow_handle(self.run.workflow_id, run_id=self.run.run_id)
        try:
            async for _ in raw.fetch_history_events(wait_new_event=True, skip_archival=True):
                self.woken.set()
        except Exception as exc:  # the stream falls back to polling
            log.warning("following the history of %s failed: %s", self.run.workflow_id, exc)
            self._follower = None
        self.woken.set()

    @property
    def following(self) -> bool:
        """True while a long poll of Temporal's history says when there is news."""
        return self._follower is not None and not self._follower.done()

    async def wait(self) -> bool:
        """Wait for a wake-up, or the poll interval; True when woken."""
        try:
            await asyncio.wait_for(self.woken.wait(), self.poll)
        except TimeoutError:
            return False
        self.woken.clear()
        return True


async def _stream(
    request: Request, handle: Any, run: Run, after: int, poll: float, keepalive: float
) -> AsyncIterator[str]:
    """Past events after ``after``, then new ones as they are written, until the run closes.

    The run closed when a closing event is sent; describe() is asked only when the run
    was already closed, after a wake-up, or once per keepalive interval (a safety net).
    """
    loop = asyncio.get_running_loop()
    quiet_since = checked_at = loop.time()
    state = request.app.state.turnout
    closed = run.state.is_terminal
    yield f"retry: {int(max(poll, 1.0) * 1000)}\n\n"
    woken = True
    async with _Changes(_client(request), run, poll) as changes:
        while not state.stopping:  # a stopping server ends its streams; clients reconnect
            try:
                read = woken or closed or not changes.following
                fresh = await _events_after(request, handle, run, after) if read else []
            except Exception as exc:
                error = from_exception(exc)
                payload = json.dumps({"error": {"code": error.code, "message": error.message}})
                yield f"event: error\ndata: {payload}\n\n"
                return
            for event in fresh:
                after = event.seq
                yield (
                    f"id: {event.seq}\nevent: {event.type.value}\n"
                    f"data: {event.model_dump_json()}\n\n"
                )
                quiet_since = loop.time()
                closed = closed or event.type in _CLOSING
            if closed:  # events read after the close was seen include the closing ones
                return
            if loop.time() - quiet_since >= keepalive:
                yield ": keep-alive\n\n"
                quiet_since = loop.time()
            woken = await changes.wait()
            if woken or loop.time() - checked_at >= keepalive:
                checked_at = loop.time()
                try:
                    closed = (await handle.describe()).state.is_terminal
                except Exception:
                    closed = False  # the next read of the events reports the error


@_guarded
async def signal_workflow(request: Request) -> Response:
    """``POST /workflows/{id}/signals/{name}``."""
    name = _path(request, "name")
    body = await _body(request, SignalRequest, optional=True)
    handle, run = await _open_run_of(request, f"signal {name!r}")
    with _checking_input():
        await handle.signal(name, args=body.args)
    return _json(SignalAccepted(workflow_id=run.workflow_id, run_id=run.run_id, signal=name), 202)


@_guarded
async def query_workflow(request: Request) -> Response:
    """``GET /workflows/{id}/queries/{name}?args=<json array>``."""
    name = _path(request, "name")
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
    handle, run = await _run_of(request)
    timeout = request.app.state.turnout.query_timeout
    try:
        async with asyncio.timeout(timeout):
            answer = await handle.query(name, args=args)
    except TimeoutError:
        raise ApiError(
            504,
            "query_timeout",
            f"no answer to query {name!r} within {timeout:g} s; on Temporal a worker of task "
            f"queue {run.task_queue!r} answers queries: check that one is running",
        ) from None
    try:
        return _json(QueryAnswer(result=answer))
    except (TypeError, ValueError) as exc:
        raise ApiError(
            422, "query_failed", f"the answer of query {name!r} is not JSON ({exc})"
        ) from None


@_guarded
async def cancel_workflow(request: Request) -> Response:
    """``POST /workflows/{id}/cancel``: the workflow sees the cancellation and may clean up."""
    handle, run = await _open_run_of(request, "cancel")
    await handle.cancel()
    return _json(Accepted(workflow_id=run.workflow_id, run_id=run.run_id, requested="cancel"), 202)


@_guarded
async def terminate_workflow(request: Request) -> Response:
    """``POST /workflows/{id}/terminate``: end the run at once."""
    body = await _body(request, TerminateRequest, optional=True)
    handle, run = await _open_run_of(request, "terminate")
    await handle.terminate(reason=body.reason)
    return _json(Accepted(workflow_id=run.workflow_id, run_id=run.run_id, requested="terminate"))


@_guarded
async def pending_approvals(request: Request) -> Response:
    """``GET /approvals``: the tenant's approvals waiting on a decision."""
    limit = _int_param(request, "limit", 100, 1, 500)
    found = await _client(request).list_pending_approvals(
        workflow_type=_text_param(request, "type"), limit=limit
    )
    return _json(ApprovalList(items=found))


def _records(read: str) -> Handler:
    """A route listing one kind of the run's records (``handle.<read>()``)."""

    @_guarded
    async def route(request: Request) -> Response:
        handle, _ = await _run_of(request)
        return _json(await getattr(handle, read)())

    route.__name__ = f"workflow_{read}"
    return route


def _decision(verb: str) -> Handler:
    """``POST /workflows/{id}/approvals/{name}/approve`` or ``/reject``."""

    @_guarded
    async def route(request: Request) -> Response:
        name = _path(request, "name")
        body = await _body(request, DecisionRequest)
        handle, _ = await _open_run_of(request, f"deciding approval {name!r}")
        with _checking_input():
            decision = await getattr(handle, verb)(name, by=body.by.strip(), reason=body.reason)
        return _json(decision)

    route.__name__ = f"{verb}_approval"
    return route


@_guarded
async def queues(request: Request) -> Response:
    """``GET /queues``: depth and lag per task queue (internal executor)."""
    client = _client(request)
    if client.executor != "internal":
        return _json(
            QueueList(
                items=[],
                note="queue depth and lag come from the internal executor's tables; on Temporal "
                "read them from the Temporal server (temporal task-queue describe, its metrics)",
            )
        )
    from turnout.executors.internal.store.figures import per_queue

    rows = per_queue(await client.store.figures(client.tenant_id))
    items = [QueueView.model_validate(row, from_attributes=True) for row in rows]
    return _json(QueueList(items=items))


def routes() -> list[Route]:
    """The API's routes (``/healthz`` and ``/openapi.json`` are added by the app)."""
    return [
        Route("/healthz", health, methods=["GET"]),
        Route("/workflows", workflows, methods=["GET", "POST"]),
        Route("/workflows/{id:path}/events", workflow_events, methods=["GET"]),
        Route("/workflows/{id:path}/signals/{name}", signal_workflow, methods=["POST"]),
        Route("/workflows/{id:path}/queries/{name}", query_workflow, methods=["GET"]),
        Route("/workflows/{id:path}/cancel", cancel_workflow, methods=["POST"]),
        Route("/workflows/{id:path}/terminate", terminate_workflow, methods=["POST"]),
        Route(
            "/workflows/{id:path}/approvals/{name}/approve", _decision("approve"), methods=["POST"]
        ),
        Route(
            "/workflows/{id:path}/approvals/{name}/reject", _decision("reject"), methods=["POST"]
        ),
        Route("/workflows/{id:path}/approvals", _records("approvals"), methods=["GET"]),
        Route("/workflows/{id:path}/decisions", _records("policy_decisions"), methods=["GET"]),
        Route("/workflows/{id:path}/artifacts", _records("artifacts"), methods=["GET"]),
        Route("/workflows/{id:path}", describe_workflow, methods=["GET"]),
        Route("/approvals", pending_approvals, methods=["GET"]),
        Route("/queues", queues, methods=["GET"]),
    ]
