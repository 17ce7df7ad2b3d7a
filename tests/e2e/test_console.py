"""The web console in a real browser: a run started through the API shows up in the
runs list, waits for an approval, is approved with a click and completes on its
timeline; on SQLite, PostgreSQL and Temporal."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

import turnout
from tests.e2e.conftest import QUEUE, WAIT, Server, docs_image, log_in, open_run

pytestmark = pytest.mark.timeout(180)


async def test_approve_a_run_from_the_console(
    server: Server, worker: Any, browser: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    await log_in(page, server)

    workflow_id = f"deploy-{uuid.uuid4().hex[:8]}"
    started = await server.start("Deploy", ["prod"], workflow_id)
    assert started["state"] == "queued"

    # The runs list refreshes itself: the new run appears without a reload.
    row = page.locator(f'tr[data-workflow-id="{workflow_id}"]')
    await expect(row).to_be_visible(timeout=WAIT)
    await expect(row.locator(".state")).to_have_text("waiting_approval", timeout=WAIT)
    await page.screenshot(path=artifacts / "1-runs.png", full_page=True)

    await row.get_by_role("link", name=workflow_id).click()
    await expect(page.get_by_role("heading", name=workflow_id)).to_be_visible(timeout=WAIT)
    await expect(page.locator("#run-state")).to_have_text("waiting_approval", timeout=WAIT)
    approval_bar = page.locator('#timeline rect[data-kind="approval"][data-name="deploy"]')
    await expect(approval_bar).to_have_attribute("data-outcome", "pending", timeout=WAIT)
    await page.get_by_label("Your name").fill("alice")
    await page.get_by_label("Reason", exact=True).fill("change ticket 42")
    await page.screenshot(path=artifacts / "2-waiting.png", full_page=True)

    await page.get_by_role("button", name="Approve deploy").click()

    # Live: the page follows the run to its end without a reload.
    await expect(page.locator("#run-state")).to_have_text("completed", timeout=WAIT)
    ship = page.locator('#timeline rect[data-kind="activity"][data-name="ship"]')
    await expect(ship).to_have_count(1, timeout=WAIT)
    await expect(ship).to_have_attribute("data-outcome", "completed", timeout=WAIT)
    await expect(approval_bar).to_have_attribute("data-outcome", "approved", timeout=WAIT)
    await expect(
        page.locator('#timeline [data-kind="decision"][data-outcome="approved"]')
    ).to_have_count(1, timeout=WAIT)
    await expect(page.locator("#run-result")).to_contain_text(
        "shipped to prod, approved by alice (change ticket 42)", timeout=WAIT
    )
    await expect(page.locator("#live")).to_be_hidden(timeout=WAIT)
    await expect(page.locator("#decide")).to_be_hidden(timeout=WAIT)
    await page.screenshot(path=artifacts / "3-completed.png", full_page=True)
    await page.locator("#timeline").screenshot(path=artifacts / "timeline.png")

    # A reload draws the same closed run from the server's first paint.
    await page.reload()
    await expect(page.locator("#run-state")).to_have_text("completed", timeout=WAIT)
    await expect(ship).to_have_attribute("data-outcome", "completed", timeout=WAIT)
    assert errors == []


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_log_in_refuses_a_wrong_token_and_log_out_ends_the_session(
    server: Server, browser: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    page = await browser.new_page()
    await page.goto(server.url + "/runs/nothing-here")
    await expect(page).to_have_url(server.url + "/login?next=%2Fruns%2Fnothing-here", timeout=WAIT)
    await page.get_by_label("API token").fill("tnt_not-a-token")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid", timeout=WAIT)
    await page.screenshot(path=artifacts / "refused.png", full_page=True)

    await page.get_by_label("API token").fill(server.token)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="No such workflow")).to_be_visible(timeout=WAIT)
    cookies = {c["name"]: c for c in await browser.cookies()}
    assert cookies["turnout_token"]["httpOnly"] is True
    assert cookies["turnout_token"]["sameSite"] == "Strict"

    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(server.url + "/login", timeout=WAIT)
    await page.goto(server.url + "/")
    await expect(page).to_have_url(server.url + "/login?next=%2F", timeout=WAIT)


@pytest.mark.parametrize("settings", ["sqlite", "temporal"], indirect=True)
async def test_retries_timers_approvals_and_artifacts_on_the_timeline(
    server: Server, settings: Any, browser: Any, artifacts: Path
) -> None:
    """Each attempt of a retried activity is its own bar (Temporal's history records the
    last attempt only); the timer, the approval and the artifact are drawn. With
    TURNOUT_DOCS_IMAGES=1 the SQLite run's screenshots are copied to docs/images/."""
    from playwright.async_api import expect

    from tests.e2e import release_workflow as rw

    on_temporal = settings.executor.value == "temporal"
    workflow_id = f"release-2.4.0-{uuid.uuid4().hex[:6]}" if on_temporal else "release-2.4.0"

    client = await turnout.connect(settings=settings)
    try:
        async with turnout.Worker(
            client, task_queue=QUEUE, workflows=rw.WORKFLOWS, activities=rw.ACTIVITIES
        ):
            page = await browser.new_page()
            await log_in(page, server)
            await server.start("Release", ["2.4.0"], workflow_id)
            await page.goto(server.url + "/runs/" + workflow_id)
            await expect(page.locator("#run-state")).to_have_text("waiting_approval", timeout=WAIT)
            build = page.locator('#timeline rect[data-kind="activity"][data-name="build"]')
            await expect(build).to_have_count(1 if on_temporal else 2, timeout=WAIT)
            if not on_temporal:
                await expect(build.first).to_have_attribute("data-outcome", "retried")
            await expect(build.last).to_have_attribute("data-outcome", "completed")
            await expect(build.last).to_have_attribute("data-attempt", "2")
            await expect(
                page.locator('#timeline rect[data-kind="timer"][data-outcome="fired"]')
            ).to_have_count(1, timeout=WAIT)
            await expect(page.locator('#timeline [data-kind="artifact"]')).to_have_count(1)
            await expect(page.get_by_role("row", name="build-log")).to_be_visible()
            await page.screenshot(path=artifacts / "waiting.png", full_page=True)

            await page.get_by_label("Your name").fill("dana")
            await page.get_by_label("Reason", exact=True).fill("soak looked clean")
            await page.get_by_role("button", name="Approve release").click()
            await expect(page.locator("#run-state")).to_have_text("completed", timeout=WAIT)
            await expect(
                page.locator('#timeline rect[data-kind="activity"][data-name="publish"]')
            ).to_have_attribute("data-outcome", "completed", timeout=WAIT)
            await expect(page.locator("#live")).to_be_hidden(timeout=WAIT)
            await page.screenshot(path=artifacts / "completed.png", full_page=True)
            await page.locator(".timeline-box").screenshot(path=artifacts / "timeline.png")
            await page.goto(server.url + "/")
            await expect(page.locator(f'tr[data-workflow-id="{workflow_id}"]')).to_be_visible(
                timeout=WAIT
            )
            await page.locator("main").screenshot(path=artifacts / "runs.png")
    finally:
        await client.close()
    docs_image(artifacts / "completed.png", "console-run.png")
    docs_image(artifacts / "runs.png", "console-runs.png")


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_reject_and_a_decision_made_elsewhere(
    server: Server, worker: Any, page: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    # Rejected from the console: a name is required first.
    await server.start("Deploy", ["prod"], "deploy-rejected")
    await page.goto(server.url + "/runs/deploy-rejected")
    reject = page.get_by_role("button", name="Reject deploy")
    await expect(reject).to_be_visible(timeout=WAIT)
    await reject.click()
    await expect(page.get_by_role("status")).to_have_text(
        "Enter your name first: it is recorded with the decision.", timeout=WAIT
    )
    await expect(page.get_by_label("Your name")).to_be_focused()
    await page.get_by_label("Your name").fill("bob")
    await reject.click()
    await expect(page.locator("#run-state")).to_have_text("completed", timeout=WAIT)
    await expect(page.locator("#run-result")).to_contain_text("not shipped: rejected by bob")
    await expect(
        page.locator('#timeline [data-kind="decision"][data-outcome="rejected"]')
    ).to_have_count(1, timeout=WAIT)
    await page.screenshot(path=artifacts / "rejected.png", full_page=True)

    # Approved through the API while the page is open: the page follows.
    await server.start("Deploy", ["prod"], "deploy-elsewhere")
    await page.goto(server.url + "/runs/deploy-elsewhere")
    await expect(page.get_by_role("button", name="Approve deploy")).to_be_visible(timeout=WAIT)
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        response = await http.post(
            "/workflows/deploy-elsewhere/approvals/deploy/approve",
            json={"by": "carol", "reason": "from the API"},
            headers={"Authorization": f"Bearer {server.token}"},
        )
    assert response.status_code == 200, response.text
    await expect(page.locator("#decide")).to_be_hidden(timeout=WAIT)
    await expect(page.locator("#run-state")).to_have_text("completed", timeout=WAIT)
    await expect(page.get_by_role("cell", name="carol")).to_have_count(2, timeout=WAIT)
    await page.screenshot(path=artifacts / "decided-elsewhere.png", full_page=True)


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_late_answer_never_puts_back_a_state_the_run_has_left(
    server: Server, worker: Any, page: Any
) -> None:
    """The page's refreshes overlap (the stream's, its pollers', a decision's): one answered
    before the run closed but delivered after a later one must not bring the old state
    back, nor reopen the page."""
    from playwright.async_api import expect

    workflow_id = await open_run(page, server, "Deploy", ["prod"], "waiting_approval")
    panel = f"{server.url}/runs/{workflow_id}/panel"
    # The panel as it was before the decision: the answer the held request will get.
    stale = await page.request.get(panel + "?after=0", headers={"Accept": "application/json"})
    assert (await stale.json())["state"] == "waiting_approval"
    held: list[Any] = []

    async def hold_the_first(route: Any) -> None:
        if held:
            await route.continue_()
        else:
            held.append(route)

    await page.route(panel + "*", hold_the_first)
    await page.get_by_label("Your name").fill("erin")
    await page.get_by_role("button", name="Reject deploy").click()
    await expect(page.locator("#run-state")).to_have_text("completed", timeout=WAIT)
    await expect(page.locator("#live")).to_be_hidden(timeout=WAIT)
    assert held, "no refresh of the panel was held"
    answered = int(await page.locator("#run").get_attribute("data-answered") or "0")

    await held[0].fulfill(response=stale)
    await page.wait_for_function(
        "n => Number(document.getElementById('run').dataset.answered) > n", arg=answered
    )
    await expect(page.locator("#run-state")).to_have_text("completed")
    await expect(page.locator("#run")).to_have_attribute("data-state", "completed")
    await expect(page.locator("#live")).to_be_hidden()
