"""The HTTP API's errors: a stable code, a message that says what to fix, an HTTP status.

Every error response has the body ``{"error": {"code": "...", "message": "..."}}``.
The codes are part of the API's contract (docs/http-api.md lists them); the
messages are for people and may change.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import exc as sa_exc
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from turnout.contracts.errors import (
    ApprovalAlreadyDecidedError,
    ApprovalNotFoundError,
    ConfigurationError,
    ExecutorUnavailableError,
    PayloadTooLargeError,
    TurnoutError,
    WorkflowAlreadyCompletedError,
    WorkflowAlreadyStartedError,
    WorkflowNotFoundError,
    WorkflowQueryFailedError,
)
from turnout.contracts.schedules import ScheduleAlreadyRunningError, ScheduleNotFoundError

__all__ = [
    "CLIENT_GONE",
    "ApiError",
    "InvalidInput",
    "client_gone",
    "error_response",
    "from_exception",
]

log = logging.getLogger("turnout.http")


class ApiError(Exception):
    """An error the API answers with ``status`` and ``{"error": {"code", "message"}}``."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class InvalidInput(ApiError):
    """A request the executor's client refused while checking its input (422)."""

    def __init__(self, cause: TypeError | ValueError) -> None:
        super().__init__(422, "invalid_input", str(cause))


CLIENT_GONE = 499
"""The status answering a request whose client went away (received by nobody)."""


def client_gone() -> ApiError:
    """The error answering a request whose client closed the connection before it was read
    (``turnout.http.edges`` logs it as one line)."""
    return ApiError(CLIENT_GONE, "client_disconnected", "the client closed the connection first")


_SQLITE_UNAVAILABLE = ("locked", "busy", "unable to open", "disk i/o")
"""What SQLite's OperationalError says when the file cannot be used now (its others,
such as ``no such table``, are the server's bugs or setup, not an outage)."""


def _database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (down, restarting, refusing)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.OperationalError) and type(exc.orig).__module__ == "sqlite3":
        return any(word in str(exc.orig).lower() for word in _SQLITE_UNAVAILABLE)
    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError)


def error_response(error: ApiError) -> JSONResponse:
    """The JSON response of an :class:`ApiError`."""
    return JSONResponse(
        {"error": {"code": error.code, "message": error.message}},
        status_code=error.status,
        headers=error.headers,
    )


def from_exception(exc: BaseException) -> ApiError:
    """The API error an exception of an executor's client stands for.

    Errors that are not the caller's fault become ``500 internal_error`` (logged with
    their traceback) or ``503 executor_unavailable`` when the database or the
    Temporal server cannot be reached. A ``TypeError`` or ``ValueError`` is the
    caller's fault only where a route says so (:class:`InvalidInput`, raised around the
    client calls that check the request's input); anywhere else it is a bug: a 500.
    """
    match exc:
        case ApiError():
            return exc
        case ClientDisconnect():
            return client_gone()
        case WorkflowAlreadyCompletedError():
            return ApiError(409, "run_closed", str(exc))
        case WorkflowNotFoundError():
            return ApiError(
                404,
                "workflow_not_found",
                f"workflow {exc.workflow_id!r}"
                + (f" run {exc.run_id!r}" if exc.run_id else "")
                + " was not found for this token's tenant; check the id "
                "(GET /workflows lists the tenant's runs)",
            )
        case WorkflowAlreadyStartedError():
            return ApiError(
                409,
                "workflow_already_started",
                f"workflow id {exc.workflow_id!r} has an open run"
                + (f" ({exc.run_id})" if exc.run_id else "")
                + "; choose another id, or send an Idempotency-Key to get the existing run "
                "back when a start is retried",
            )
        case ApprovalAlreadyDecidedError():
            return ApiError(409, "approval_already_decided", str(exc))
        case ApprovalNotFoundError():
            pending = ", ".join(repr(p) for p in exc.pending) or "none"
            return ApiError(
                404,
                "approval_not_found",
                f"workflow {exc.workflow_id!r} has no pending approval {exc.name!r} "
                f"(pending: {pending}); GET /workflows/{{id}}/approvals lists them",
            )
        case ScheduleNotFoundError():
            return ApiError(
                404,
                "schedule_not_found",
                f"schedule {exc.schedule_id!r} was not found for this token's tenant; check "
                "the id (GET /schedules lists the tenant's schedules)",
            )
        case ScheduleAlreadyRunningError():
            return ApiError(
                409,
                "schedule_already_exists",
                f"schedule {exc.schedule_id!r} exists already; choose another id, or delete "
                "it first (DELETE /schedules/{id})",
            )
        case WorkflowQueryFailedError():
            return ApiError(422, "query_failed", str(exc))
        case PayloadTooLargeError():
            return ApiError(413, "payload_too_large", str(exc))
        case ExecutorUnavailableError():
            log.warning("executor unreachable: %s", exc)
            return ApiError(503, "executor_unavailable", str(exc), headers={"Retry-After": "1"})
        case ConfigurationError():
            return ApiError(422, "not_supported", str(exc))
        case TurnoutError():
            return ApiError(422, "refused", str(exc))
        case _ if _database_unreachable(exc):
            log.warning("database unreachable: %s", exc)
            return ApiError(
                503,
                "executor_unavailable",
                "the database is unreachable (it may be down or restarting); retry in a "
                "moment, and if it lasts check the database URL and the server (turnout doctor)",
                headers={"Retry-After": "1"},
            )
        case _ if type(exc).__module__.startswith("temporalio"):
            return _from_temporal(exc)
        case OSError() | ConnectionError():
            log.warning("executor unreachable: %s", exc)
            return ApiError(
                503,
                "executor_unavailable",
                f"the executor cannot be reached ({exc}); check the database URL or the "
                "Temporal address (turnout doctor) and retry",
            )
    log.error("unexpected error answering a request", exc_info=exc)
    return ApiError(
        500,
        "internal_error",
        f"the server failed on this request ({type(exc).__name__}); the server log has the "
        "traceback; retry, and report it if it happens again",
    )


def _from_temporal(exc: BaseException) -> ApiError:
    """An error the Temporal server answered (an ``RPCError``), by its gRPC status."""
    status = getattr(getattr(exc, "status", None), "name", "")
    if status in {"INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"}:
        return ApiError(422, "refused_by_temporal", f"the Temporal server refused this: {exc}")
    if status == "NOT_FOUND":
        return ApiError(404, "not_found", f"the Temporal server found nothing: {exc}")
    if status in {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"}:
        return ApiError(
            503,
            "executor_unavailable",
            f"the Temporal server did not answer ({exc}); check TURNOUT_TEMPORAL_ADDRESS "
            "(turnout doctor) and retry",
        )
    log.error("unexpected answer of the Temporal server", exc_info=exc)
    return ApiError(
        502,
        "temporal_error",
        f"the Temporal server answered with an error ({status or type(exc).__name__}: {exc}); "
        "the server log has the details",
    )


def json_error(status: int, code: str, message: str, **headers: Any) -> JSONResponse:
    """A JSON error response built directly (for middleware)."""
    return error_response(ApiError(status, code, message, headers=headers))
