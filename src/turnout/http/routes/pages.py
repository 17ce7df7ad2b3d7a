"""Pages of runs, newest first, behind an opaque cursor (``GET /workflows``, the console)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from turnout.contracts.limits import InvalidInputError
from turnout.contracts.records import Run
from turnout.contracts.states import RunState
from turnout.http.errors import ApiError, InvalidInput
from turnout.http.routes.common import capabilities_of

__all__ = ["read_page"]


@contextlib.contextmanager
def _refusing_bad_filters() -> Iterator[None]:
    """Answer what the client refuses in the query or the filters (an InvalidInputError,
    naming it) as 422; any other TypeError or ValueError of a listing is the server's bug."""
    try:
        yield
    except InvalidInputError as exc:
        raise InvalidInput(exc) from exc


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


def _decode_cursor(cursor: str, page_tokens: bool) -> tuple[datetime, str] | bytes:
    """The position a cursor names: ``(requested_at, run_id)`` of the last run of the
    previous page (a keyset), or the listing's page token (a client that lists by page
    token, such as Temporal's, whose visibility store cannot sort by start time)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
        if page_tokens:
            return base64.b64decode(str(value["p"]), validate=True)
        at = datetime.fromisoformat(value["t"])
        if at.tzinfo is None:
            raise ValueError("not a UTC time")
        return at, str(value["r"])
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        raise _bad_cursor() from None


async def read_page(
    client: Any,
    *,
    query: str | None = None,
    state: RunState | None,
    workflow_type: str | None,
    task_queue: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Run], str | None]:
    """One page of runs, newest first, and the cursor of the next (None: the last page).

    A keyset client reads at most ``limit + 1`` runs: the cursor is the keyset
    ``(requested_at, run_id)`` of the previous page's last run. A client that lists by
    page token (Temporal) reads one page of ``limit`` executions: the cursor is that
    token. Raises ApiError (422) for a cursor this API did not give.
    """
    filters: dict[str, Any] = {
        "query": query,
        "state": state,
        "workflow_type": workflow_type,
        "task_queue": task_queue,
    }
    if capabilities_of(client).page_tokens:
        token = _decode_cursor(cursor, True) if cursor else None
        assert token is None or isinstance(token, bytes)
        with _refusing_bad_filters():
            page, next_token = await client.list_workflows_page(
                **filters, limit=limit, page_token=token
            )
        if next_token:
            return page, _encode_cursor({"p": base64.b64encode(next_token).decode()})
        return page, None
    keyset = _decode_cursor(cursor, False) if cursor else None
    assert not isinstance(keyset, bytes)
    with _refusing_bad_filters():
        found = await client.list_workflows(**filters, limit=limit + 1, before=keyset)
    page = found[:limit]
    if len(found) > limit:
        last = page[-1]
        return page, _encode_cursor({"t": last.requested_at.isoformat(), "r": last.run_id})
    return page, None
