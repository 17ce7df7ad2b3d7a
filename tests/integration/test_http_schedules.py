"""``/schedules`` of the HTTP API: create, list, describe, pause, unpause, trigger,
backfill and delete; bad specs refused with one line; each tenant sees only its own, on
SQLite, PostgreSQL and Temporal (http_api_kit.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.http_api_kit import Api, eventually, new_queue
from tests.integration.http_api_kit import api as api  # the fixture
from turnout.http.auth import CONSOLE_HEADER, COOKIE

YEARLY = "0 0 1 1 *"
"""Fires at midnight on the first of January: never while a test runs."""


def new_id() -> str:
    return f"sched-{uuid.uuid4().hex[:8]}"


def body(schedule_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": schedule_id,
        "workflow": "HelloWorkflow",
        "task_queue": new_queue(),
        "args": ["world"],
        "cron_expressions": [YEARLY],
        **extra,
    }


async def create(api: Api, schedule_id: str, **extra: Any) -> dict[str, Any]:
    response = await api.a.post("/schedules", json=body(schedule_id, **extra))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def refused(response: httpx.Response, status: int, code: str, *words: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    message: str = error["message"]
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


async def listed(http: httpx.AsyncClient) -> list[str]:
    response = await http.get("/schedules")
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()["items"]]


async def test_a_schedule_is_created_described_listed_and_deleted(api: Api) -> None:
    schedule_id = new_id()
    created = await create(
        api,
        schedule_id,
        workflow_id="nightly",
        intervals=["1h30m", 86_400, {"every": "2d", "offset": "5m"}],
        time_zone_name="Europe/Paris",
        overlap="BUFFER_ONE",
        catchup_window="10m",
        paused=True,
        note="until the launch",
        limited_actions=True,
        remaining_actions=3,
    )
    assert created["id"] == schedule_id
    assert created["workflow"] == "HelloWorkflow"
    assert created["workflow_id"] == "nightly"
    assert created["args"] == ["world"]
    assert [i["every"] for i in created["intervals"]] == [5400.0, 86_400.0, 172_800.0]
    assert created["intervals"][2]["offset"] == 300.0
    assert len(created["calendars"]) == 1  # the cron expression, as a calendar
    assert created["calendars"][0]["month"] == [{"start": 1, "end": 1, "step": 1}]
    assert created["time_zone_name"] == "Europe/Paris"
    assert (created["overlap"], created["catchup_window"]) == ("BUFFER_ONE", 600.0)
    assert (created["paused"], created["note"]) == (True, "until the launch")
    assert (created["limited_actions"], created["remaining_actions"]) == (True, 3)
    assert created["info"]["num_actions"] == 0
    assert created["info"]["recent_actions"] == []

    described = await api.a.get(f"/schedules/{schedule_id}")
    assert described.status_code == 200
    assert described.json()["note"] == "until the launch"
    await eventually(lambda: _has(api.a, schedule_id), what="the schedule listed")

    again = await api.a.post("/schedules", json=body(schedule_id))
    refused(again, 409, "schedule_already_exists", schedule_id)

    deleted = await api.a.delete(f"/schedules/{schedule_id}")
    assert deleted.status_code == 204
    gone = await api.a.get(f"/schedules/{schedule_id}")
    refused(gone, 404, "schedule_not_found", schedule_id, "GET /schedules")
    refused(await api.a.delete(f"/schedules/{schedule_id}"), 404, "schedule_not_found")


async def _has(http: httpx.AsyncClient, schedule_id: str) -> bool:
    return schedule_id in await listed(http)


async def test_pause_unpause_trigger_and_backfill(api: Api) -> None:
    schedule_id = new_id()
    await create(api, schedule_id, overlap="ALLOW_ALL")
    paused = await api.a.post(f"/schedules/{schedule_id}/pause", json={"note": "maintenance"})
    assert paused.status_code == 200, paused.text
    assert (paused.json()["paused"], paused.json()["note"]) == (True, "maintenance")
    unpaused = await api.a.post(f"/schedules/{schedule_id}/unpause")
    assert unpaused.status_code == 200, unpaused.text
    assert unpaused.json()["paused"] is False

    triggered = await api.a.post(f"/schedules/{schedule_id}/trigger", json={"overlap": "SKIP"})
    assert triggered.status_code == 202, triggered.text
    assert triggered.json() == {"schedule_id": schedule_id, "requested": "trigger"}
    backfill = {"start_at": "2024-12-31T12:00:00Z", "end_at": "2025-01-01T12:00:00Z"}
    backfilled = await api.a.post(f"/schedules/{schedule_id}/backfill", json=backfill)
    assert backfilled.status_code == 202, backfilled.text

    async def two_actions() -> dict[str, Any] | None:
        found: dict[str, Any] = (await api.a.get(f"/schedules/{schedule_id}")).json()
        return found if found["info"]["num_actions"] >= 2 else None

    described = await eventually(two_actions, what="the trigger and the backfill acted")
    recent = described["info"]["recent_actions"]
    workflow_ids = {r["workflow_id"] for r in recent}
    assert f"{schedule_id}-2025-01-01T00:00:00Z" in workflow_ids
    assert all(w.startswith(schedule_id + "-") and r["run_id"] for w, r in zip(
        [r["workflow_id"] for r in recent], recent, strict=True))  # fmt: skip
    for workflow_id in workflow_ids:
        run = await api.a.get(f"/workflows/{workflow_id}")
        assert run.status_code == 200, run.text
        assert run.json()["workflow_type"] == "HelloWorkflow"
    assert described["info"]["next_action_times"]
    assert (await api.a.delete(f"/schedules/{schedule_id}")).status_code == 204


async def test_bad_schedules_are_refused_with_one_line_and_nothing_kept(api: Api) -> None:
    schedule_id = new_id()
    post = api.a.post
    bad_cron = await post("/schedules", json=body(schedule_id, cron_expressions=["61 * * * *"]))
    refused(bad_cron, 422, "invalid_input", "cron expression", "61")
    never = await post("/schedules", json=body(schedule_id, cron_expressions=[]))
    refused(never, 422, "invalid_input", "fires never")
    zone = await post("/schedules", json=body(schedule_id, time_zone_name="Mars/Olympus"))
    refused(zone, 422, "invalid_input", "Mars/Olympus")
    window = await post("/schedules", json=body(schedule_id, catchup_window=2))
    refused(window, 422, "invalid_input", "10 seconds")
    for field, value in [
        ("intervals", ["5 minutes"]),
        ("intervals", [-1]),
        ("overlap", "sometimes"),
        ("start_at", "2026-01-01T00:00:00"),  # no time zone
        ("calendars", [{"hour": [{"start": 24}]}]),
        ("color", "blue"),
    ]:
        response = await post("/schedules", json=body(schedule_id, **{field: value}))
        refused(response, 422, "invalid_request", field)
    for path in ("", "/pause", "/trigger"):
        method = "GET" if not path else "POST"
        missing = await api.a.request(method, f"/schedules/{schedule_id}{path}")
        refused(missing, 404, "schedule_not_found", schedule_id)
    control = await api.a.get("/schedules/a%00b")
    refused(control, 404, "schedule_not_found")

    await create(api, schedule_id)
    backwards = {"start_at": "2025-02-01T00:00:00Z", "end_at": "2025-01-01T00:00:00Z"}
    response = await post(f"/schedules/{schedule_id}/backfill", json=backwards)
    refused(response, 422, "invalid_input", "end_at")
    not_json = await post(f"/schedules/{schedule_id}/pause", content=b"{")
    refused(not_json, 400, "invalid_json")
    assert (await api.a.delete(f"/schedules/{schedule_id}")).status_code == 204


async def test_another_tenants_schedule_is_not_found_and_never_changed(api: Api) -> None:
    schedule_id = new_id()
    before = await create(api, schedule_id)
    period = {"start_at": "2024-12-31T00:00:00Z", "end_at": "2025-01-02T00:00:00Z"}
    for method, path, payload in [
        ("GET", "", None),
        ("POST", "/pause", {"note": "not yours"}),
        ("POST", "/unpause", None),
        ("POST", "/trigger", None),
        ("POST", "/backfill", period),
        ("DELETE", "", None),
    ]:  # fmt: skip
        response = await api.b.request(method, f"/schedules/{schedule_id}{path}", json=payload)
        refused(response, 404, "schedule_not_found", schedule_id)
    assert schedule_id not in await listed(api.b)

    cookie = {"Cookie": f"{COOKIE}={api.token_a}"}
    forged = await api.anonymous.post(f"/schedules/{schedule_id}/pause", headers=cookie)
    refused(forged, 403, "csrf")
    by_console = await api.anonymous.post(
        f"/schedules/{schedule_id}/pause", headers={**cookie, CONSOLE_HEADER: "1"}
    )
    assert by_console.status_code == 200, by_console.text
    assert (await api.anonymous.get("/schedules")).status_code == 401

    after = (await api.a.get(f"/schedules/{schedule_id}")).json()
    assert after["info"]["num_actions"] == before["info"]["num_actions"] == 0
    assert after["note"] is None or "not yours" not in after["note"]
    # The same id is another tenant's own schedule.
    theirs = await api.b.post("/schedules", json=body(schedule_id))
    assert theirs.status_code == 201, theirs.text
    assert (await api.b.delete(f"/schedules/{schedule_id}")).status_code == 204
    assert (await api.a.get(f"/schedules/{schedule_id}")).status_code == 200
    assert (await api.a.delete(f"/schedules/{schedule_id}")).status_code == 204
