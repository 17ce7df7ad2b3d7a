"""Governance: the tenant's pending approvals, a run's approvals, policy decisions and
artifacts, and deciding an approval."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from turnout.contracts.errors import WorkflowNotFoundError
from turnout.http.errors import ApiError
from turnout.http.routes.common import (
    Handler,
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
from turnout.http.schemas import ApprovalList, DecisionRequest

__all__ = ["decision", "pending_approvals", "records"]


@guarded
async def pending_approvals(request: Request) -> Response:
    """``GET /approvals``: the tenant's approvals waiting on a decision."""
    limit = int_param(request, "limit", 100, 1, 500)
    found = await client_of(request).list_pending_approvals(
        workflow_type=text_param(request, "type"), limit=limit
    )
    return json_response(ApprovalList(items=found))


def records(read: str) -> Handler:
    """A route listing one kind of the run's records (``handle.<read>()``)."""

    @guarded
    async def route(request: Request) -> Response:
        handle, _ = await run_of(request)
        return json_response(await getattr(handle, read)())

    route.__name__ = f"workflow_{read}"
    return route


def decision(verb: str) -> Handler:
    """``POST /workflows/{id}/approvals/{name}/approve`` or ``/reject``."""

    @guarded
    async def route(request: Request) -> Response:
        name = safe_path_param(request, "name")
        body = await read_model(request, DecisionRequest)
        action = f"deciding approval {name!r}"
        handle, run = await open_run_of(request, action)
        try:
            with checking_input():
                decided = await getattr(handle, verb)(name, by=body.by.strip(), reason=body.reason)
        except WorkflowNotFoundError:
            # The run was open a moment ago: it closed since (its last task ran meanwhile).
            raise ApiError(
                409,
                "run_closed",
                f"workflow {run.workflow_id!r} run {run.run_id} closed; {action} needs an "
                "open run (start a new one with POST /workflows)",
            ) from None
        return json_response(decided)

    route.__name__ = f"{verb}_approval"
    return route
