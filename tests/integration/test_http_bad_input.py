"""Absurd values in every path segment, query filter and body of the API and the console.

Each is answered as the caller's mistake (400, 404 or 422 with a one-line message naming
the problem), on SQLite, PostgreSQL and Temporal: never a 500, never a traceback in the
server's log. NUL is what PostgreSQL cannot store; the other values are out of range.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from tests.integration.http_api_kit import Api
from tests.integration.http_api_kit import api as api  # the fixture
from turnout.http.auth import CONSOLE_HEADER, COOKIE

LONG = "x" * 300
BAD_NAMES = ["a%00", "a%00b", "%01", "a%7F", "a%0Ab", LONG]
"""Path segments no run can have: NUL and other control characters, 300 characters."""
BAD_FILTERS = ["\x00", "a\x00", "\x01", "a\nb", LONG]
"""Query filter values no run can have."""
BAD_LIMITS = ["NaN", "nan", "-5", "0", "1e99", "inf", "9" * 5000, ""]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The records logged with a traceback while the test runs (none are expected)."""
    caplog.set_level(logging.WARNING)
    return caplog.records


def _no_traceback(records: list[logging.LogRecord]) -> None:
    logged = [r for r in records if r.exc_info or r.levelno >= logging.ERROR]
    assert not logged, [f"{r.name}: {r.getMessage()}" for r in logged]


def _refused(response: httpx.Response, *statuses: int) -> str:
    """The one-line message of a refusal with one of ``statuses``."""
    where = f"{response.request.method} {response.request.url}"
    assert response.status_code in statuses, (where, response.status_code, response.text[:300])
    if response.headers.get("content-type", "").startswith("application/json"):
        message: str = response.json()["error"]["message"]
        assert message, where
        assert "\n" not in message, (where, message)
        return message
    return response.text


async def test_api_routes_refuse_bad_path_segments_and_filters(
    api: Api,
    tracebacks: list[logging.LogRecord],
) -> None:
    for bad in BAD_NAMES:
        for method, path in [
            ("GET", f"/workflows/{bad}"),
            ("GET", f"/workflows/{bad}/events"),
            ("GET", f"/workflows/{bad}/approvals"),
            ("GET", f"/workflows/{bad}/decisions"),
            ("GET", f"/workflows/{bad}/artifacts"),
            ("GET", f"/workflows/{bad}/queries/q"),
            ("GET", f"/workflows/some-run/queries/{bad}"),
            ("POST", f"/workflows/{bad}/cancel"),
            ("POST", f"/workflows/{bad}/terminate"),
            ("POST", f"/workflows/{bad}/signals/go"),
            ("POST", f"/workflows/some-run/signals/{bad}"),
            ("POST", f"/workflows/some-run/approvals/{bad}/approve"),
        ]:
            body = {"by": "ann"} if path.endswith("approve") else None
            response = await api.a.request(method, path, json=body)
            _refused(response, 404)
    for name in ["type", "task_queue", "cursor"]:
        for value in BAD_FILTERS:
            response = await api.a.get("/workflows", params={name: value})
            assert name in _refused(response, 422)
    for value in BAD_FILTERS:
        _refused(await api.a.get("/workflows", params={"state": value}), 422)
        _refused(await api.a.get("/approvals", params={"type": value}), 422)
    for value in BAD_LIMITS[:-1]:
        _refused(await api.a.get("/workflows", params={"limit": value}), 422)
        _refused(await api.a.get("/approvals", params={"limit": value}), 422)
        if value != "0":
            events = await api.a.get("/workflows/some-run/events", params={"after": value})
            _refused(events, 422)
    _no_traceback(tracebacks)


async def test_deep_or_unstorable_json_is_refused_with_a_clear_error(
    api: Api,
    tracebacks: list[logging.LogRecord],
) -> None:
    json_header = {"Content-Type": "application/json"}
    for depth in [10_000, 100]:
        body = f'{{"workflow": "HelloWorkflow", "task_queue": "q", "args": {nested(depth)}}}'
        response = await api.a.post("/workflows", content=body, headers=json_header)
        message = _refused(response, 400)
        assert response.json()["error"]["code"] == "invalid_json"
        assert "nested more than 66 levels deep" in message
        signal = await api.a.post(
            "/workflows/some-run/signals/go", content=f'{{"args": {nested(depth)}}}'
        )
        assert "nested more than" in _refused(signal, 400)
        query = await api.a.get("/workflows/some-run/queries/q", params={"args": nested(depth)})
        assert "nested more than" in _refused(query, 422)
    for args in ['["a\\u0000b"]', '[{"k\\u0000": 1}]', '["\\ud800"]']:
        body = f'{{"workflow": "HelloWorkflow", "task_queue": "q", "args": {args}}}'
        response = await api.a.post("/workflows", content=body, headers=json_header)
        assert response.json()["error"]["code"] == "invalid_input"
        _refused(response, 422)
    listed = await api.a.get("/workflows", params={"task_queue": "q"})
    assert listed.json()["items"] == []
    _no_traceback(tracebacks)


async def _console(api: Api, path: str, **params: Any) -> httpx.Response:
    return await api.anonymous.get(
        path, params=params, headers={"Cookie": f"{COOKIE}={api.token_a}", CONSOLE_HEADER: "1"}
    )


async def test_console_pages_answer_400_or_404_for_nul_and_absurd_values(
    api: Api,
    tracebacks: list[logging.LogRecord],
) -> None:
    for bad in BAD_NAMES:
        page = await _console(api, f"/runs/{bad}")
        text = _refused(page, 404)  # a newline matches no route: the API's JSON 404
        assert "No such workflow" in text or "control character" in text
        panel = await _console(api, f"/runs/{bad}/panel")
        _refused(panel, 404)
    for name in ["type", "task_queue", "cursor"]:
        for value in BAD_FILTERS:
            for partial in [{}, {"partial": "runs"}]:
                page = await _console(api, "/", **{name: value}, **partial)
                text = _refused(page, 400)
                if not partial:  # the page says what is wrong; its refreshed part only stops
                    assert f"The {name.replace('_', ' ')} filter" in text
    for value in BAD_FILTERS:
        _refused(await _console(api, "/", state=value), 400)
    for value in BAD_LIMITS:  # the page size is clamped to what the console shows
        assert (await _console(api, "/", limit=value)).status_code == 200
        assert (await _console(api, "/runs/some-run/panel", after=value)).status_code == 404
    assert (await _console(api, "/login", next="/\x00")).status_code == 200
    assert (await _console(api, "/static/a%00.css")).status_code == 404
    _no_traceback(tracebacks)
