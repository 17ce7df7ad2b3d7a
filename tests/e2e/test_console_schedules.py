"""The console's schedules in a real browser: the Schedules page lists a schedule, its page
says when it fires, pause (with a note), unpause, trigger and delete work and show their
result; and the runs list's query field filters by a list query and shows the server's
one-line error for a malformed one."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.conftest import WAIT, Server, docs_image
from turnout.config import Settings

pytestmark = pytest.mark.timeout(150)


async def _create(server: Server, schedule_id: str) -> None:
    body = {
        "id": schedule_id,
        "workflow": "Report",
        "task_queue": "reports",
        "args": ["eu"],
        "cron_expressions": ["0 2 * * MON-FRI"],
        "time_zone_name": "Europe/Paris",
        "catchup_window": "1h",
        "note": "weekday reports",
    }
    response = await server.call("POST", "/schedules", body)
    assert response.status_code == 201, response.text


async def _schedule(server: Server, schedule_id: str) -> dict[str, Any]:
    response = await server.call("GET", f"/schedules/{schedule_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


@pytest.mark.parametrize("settings", ["sqlite", "temporal"], indirect=True)
async def test_a_schedule_is_listed_paused_unpaused_triggered_and_deleted(
    server: Server, page: Any, artifacts: Path, settings: Settings
) -> None:
    from playwright.async_api import expect

    schedule_id = f"nightly-report-{uuid.uuid4().hex[:6]}"
    await _create(server, schedule_id)
    await (
        page.get_by_role("navigation", name="Console").get_by_role("link", name="Schedules").click()
    )
    await expect(page.get_by_role("heading", name="Schedules")).to_be_visible(timeout=WAIT)
    row = page.locator(f'tr[data-schedule-id="{schedule_id}"]')
    await expect(row).to_be_visible(timeout=WAIT)  # Temporal lists it a moment later
    await expect(row).to_contain_text("Report")
    await expect(row).to_contain_text("active")
    await page.screenshot(path=artifacts / "schedules.png", full_page=True)
    docs_image(artifacts / "schedules.png", "console-schedules.png")

    await row.get_by_role("link", name=schedule_id).click()
    await expect(page.get_by_role("heading", name=schedule_id)).to_be_visible(timeout=WAIT)
    await expect(page.locator("#schedule-spec")).to_contain_text(
        "at 02:00, on Mon-Fri (Europe/Paris)"
    )
    await expect(page.locator("#schedule-note")).to_have_text("weekday reports")
    await expect(page.locator("#next-fires li").first).to_be_visible()
    state, status = page.locator("#schedule-state"), page.locator("#schedule-status")

    await page.locator("#pause-note").fill("quarter-end freeze")
    await page.get_by_role("button", name="Pause schedule", exact=True).click()
    await expect(status).to_have_text("Paused.", timeout=WAIT)
    await expect(state).to_have_text("paused", timeout=WAIT)
    await expect(page.locator("#schedule-note")).to_have_text("quarter-end freeze")
    await expect(page.get_by_role("button", name="Pause schedule", exact=True)).to_be_hidden()
    assert (await _schedule(server, schedule_id))["paused"] is True

    await page.get_by_role("button", name="Unpause schedule").click()
    await expect(status).to_have_text("Unpaused.", timeout=WAIT)
    await expect(state).to_have_text("active", timeout=WAIT)
    assert (await _schedule(server, schedule_id))["paused"] is False

    await page.get_by_role("button", name="Trigger now").click()
    await expect(status).to_contain_text("Triggered", timeout=WAIT)
    run_link = page.locator("#recent-actions a")
    await expect(run_link).to_have_count(1, timeout=WAIT)
    await expect(run_link).to_have_text(re.compile(re.escape(schedule_id) + "-20"))
    await expect(page.locator("#schedule-num-actions")).to_have_text("1")
    await page.screenshot(path=artifacts / "schedule.png", full_page=True)
    docs_image(artifacts / "schedule.png", "console-schedule.png")
    run_id = await run_link.text_content()
    await run_link.click()
    await expect(page.get_by_role("heading", name=run_id or "")).to_be_visible(timeout=WAIT)
    await expect(page.locator("#run-state")).to_be_visible()
    await page.go_back()

    asked: list[str] = []

    async def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    await page.get_by_role("button", name="Delete schedule").click()
    await expect(page).to_have_url(
        server.url + "/console/schedules?deleted=" + quote(schedule_id), timeout=WAIT
    )
    await expect(page.locator("#schedules-status")).to_contain_text(
        f"Schedule {schedule_id} was deleted"
    )
    assert asked
    assert "Delete schedule" in asked[0]
    gone = await server.call("GET", f"/schedules/{schedule_id}")
    assert gone.status_code == 404
    await expect(page.locator(f'tr[data-schedule-id="{schedule_id}"]')).to_have_count(
        0, timeout=WAIT
    )


@pytest.mark.parametrize("settings", ["sqlite", "temporal"], indirect=True)
async def test_the_query_field_filters_runs_and_shows_the_servers_error(
    server: Server, page: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    tag = uuid.uuid4().hex[:6]
    alpha, beta = f"alpha-{tag}", f"beta-{tag}"
    for workflow_id in (alpha, beta):
        await server.start("Inbox", ["ann"], workflow_id)

    query = page.get_by_label("List query")
    await query.fill(f"WorkflowId = '{alpha}' OR WorkflowId = 'nobody-{tag}'")
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(re.compile(r"query=WorkflowId"), timeout=WAIT)
    runs = page.locator("#runs")
    await expect(runs.locator(f'tr[data-workflow-id="{alpha}"]')).to_be_visible(timeout=WAIT)
    await expect(runs.locator("tbody tr")).to_have_count(1)
    await expect(query).to_have_value(f"WorkflowId = '{alpha}' OR WorkflowId = 'nobody-{tag}'")

    malformed = f"WorkflowId = '{beta}' AND"
    answer = await server.call("GET", "/workflows?query=" + quote(malformed))
    assert answer.status_code == 422, answer.text
    await query.fill(malformed)
    await page.get_by_role("button", name="Filter").click()
    problem = page.locator("#runs-problem")
    await expect(problem).to_have_text(answer.json()["error"]["message"], timeout=WAIT)
    await expect(page).to_have_url(re.compile(r"query=WorkflowId"))
    await expect(query).to_have_value(malformed)
    await page.locator("section[aria-labelledby=runs-title]").screenshot(
        path=artifacts / "query-error.png"
    )
    docs_image(artifacts / "query-error.png", "console-query-error.png")
