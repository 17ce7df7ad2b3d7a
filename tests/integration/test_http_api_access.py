"""The HTTP API's doors: tokens, tenants kept apart, the console cookie, and bodies
refused before anything starts, on SQLite, PostgreSQL and Temporal (http_api_kit.py).
"""

from __future__ import annotations

from typing import Any

from tests.integration.http_api_kit import Api, list_runs, new_queue, start, state_of
from tests.integration.http_api_kit import api as api  # the fixture
from turnout.http.auth import CONSOLE_HEADER, COOKIE

# -- authentication and tenants -------------------------------------------------------------


async def test_no_token_or_a_wrong_token_is_401_and_health_is_open(api: Api) -> None:
    for path in ("/workflows", "/approvals", "/queues", "/workflows/x/events"):
        missing = await api.anonymous.get(path)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "unauthorized"
        assert "Bearer" in missing.headers["www-authenticate"]
    wrong = await api.anonymous.get("/workflows", headers={"Authorization": "Bearer tnt_nope"})
    assert wrong.json()["error"]["code"] == "invalid_token"
    basic = await api.anonymous.get("/workflows", headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401
    posted = await api.anonymous.post(
        "/workflows", json={"workflow": "HelloWorkflow", "task_queue": "q"}
    )
    assert posted.status_code == 401
    health = await api.anonymous.get("/healthz")
    assert health.json() == {"status": "ok", "executor": api.executor}
    spec = await api.anonymous.get("/openapi.json")
    assert spec.status_code == 200
    assert "/workflows/{id}/approvals/{name}/approve" in spec.json()["paths"]


async def test_another_tenants_run_is_not_found_and_never_changed(api: Api) -> None:
    queue = new_queue()
    workflow_id = (await start(api, "SignalWorkflow", queue))["workflow_id"]
    before = (await api.a.get(f"/workflows/{workflow_id}/events")).json()

    for method, path, body in [
        ("GET", "", None),
        ("GET", "/events", None),
        ("GET", "/approvals", None),
        ("GET", "/decisions", None),
        ("GET", "/artifacts", None),
        ("GET", "/queries/count", None),
        ("POST", "/signals/add", {"args": ["intruder"]}),
        ("POST", "/cancel", None),
        ("POST", "/terminate", {"reason": "not yours"}),
        ("POST", "/approvals/deploy/approve", {"by": "mallory"}),
    ]:
        response = await api.b.request(method, f"/workflows/{workflow_id}{path}", json=body)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "workflow_not_found"

    # Other tests' runs of tenant B may exist (one Temporal namespace per tenant): look
    # for this test's run only.
    assert [r["workflow_id"] for r in await list_runs(api.b, task_queue=queue)] == []
    pending_b = (await api.b.get("/approvals")).json()["items"]
    assert [a for a in pending_b if a["workflow_id"] == workflow_id] == []
    assert (await api.a.get(f"/workflows/{workflow_id}/events")).json() == before
    assert await state_of(api.a, workflow_id) in {"queued", "running"}


async def test_the_console_cookie_works_and_its_changes_need_the_console_header(
    api: Api,
) -> None:
    queue = new_queue()
    workflow_id = (await start(api, "SleepyWorkflow", queue))["workflow_id"]
    cookie = {"Cookie": f"{COOKIE}={api.token_a}"}
    read = await api.anonymous.get(f"/workflows/{workflow_id}", headers=cookie)
    assert read.status_code == 200

    forged = await api.anonymous.post(f"/workflows/{workflow_id}/cancel", headers=cookie)
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "csrf"
    assert await state_of(api.a, workflow_id) in {"queued", "running"}

    allowed = await api.anonymous.post(
        f"/workflows/{workflow_id}/terminate",
        headers={**cookie, CONSOLE_HEADER: "1"},
        json={"reason": "from the console"},
    )
    assert allowed.status_code == 200, allowed.text


# -- bad input ------------------------------------------------------------------------------


async def test_bad_bodies_are_refused_and_nothing_is_started(api: Api) -> None:
    queue = new_queue()
    cases: list[tuple[Any, int, str]] = [
        (b"{not json", 400, "invalid_json"),
        (b'{"workflow": "HelloWorkflow", "task_queue": "q", "args": [NaN]}', 400, "invalid_json"),
        ({"workflow": "HelloWorkflow"}, 422, "invalid_request"),
        ({"workflow": "HelloWorkflow", "task_queue": queue, "extra": 1}, 422, "invalid_request"),
        ({"workflow": "", "task_queue": queue}, 422, "invalid_request"),
        (
            {"workflow": "HelloWorkflow", "task_queue": queue, "args": ["a\x00b"]},
            422,
            "invalid_input",
        ),
        (
            {"workflow": "HelloWorkflow", "task_queue": queue, "id": "bad\nid"},
            422,
            "invalid_request",
        ),
    ]
    for body, status, code in cases:
        if isinstance(body, bytes):
            response = await api.a.post(
                "/workflows", content=body, headers={"Content-Type": "application/json"}
            )
        else:
            response = await api.a.post("/workflows", json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
        assert response.json()["error"]["message"]
    assert await list_runs(api.a, task_queue=queue) == []


async def test_a_body_over_the_payload_limit_is_refused_unread(api: Api) -> None:
    limit = api.app.state.turnout.settings.max_payload_bytes
    huge = {
        "workflow": "HelloWorkflow",
        "task_queue": new_queue(),
        "args": ["x" * (limit + 70_000)],
    }
    response = await api.a.post("/workflows", json=huge)
    assert response.status_code == 413
    assert "TURNOUT_MAX_PAYLOAD_BYTES" in response.json()["error"]["message"]
    just_over = {**huge, "args": ["x" * (limit + 10)]}
    refused = await api.a.post("/workflows", json=just_over)
    assert refused.status_code in {413, 422}, refused.text
    if api.executor == "internal":  # the executor's own limit; Temporal has its server's
        assert refused.json()["error"]["code"] == "payload_too_large"
