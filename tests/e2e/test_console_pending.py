"""What a run waits on and who works, in a real browser: the run page's pending panel (an
activity failing under retries: its attempt and last failure with its causes; the child
it waits on), the warning for a run no worker polls for, and the Workers page."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import turnout
from tests.e2e import pending_workflows as pw
from tests.e2e.conftest import QUEUE, WAIT, Server, docs_image, open_run
from turnout.config import Settings

pytestmark = pytest.mark.timeout(150)


@pytest.fixture
async def pending_worker(settings: Settings) -> AsyncIterator[Any]:
    """A worker of the declined payment and its child on the console's task queue."""
    client = await turnout.connect(settings=settings)
    try:
        async with turnout.Worker(
            client, task_queue=QUEUE, workflows=pw.WORKFLOWS, activities=pw.ACTIVITIES
        ) as running:
            yield running
    finally:
        await client.close()


async def _terminate(server: Server, *workflow_ids: str) -> None:
    for workflow_id in workflow_ids:
        answer = await server.call("POST", f"/workflows/{workflow_id}/terminate", {})
        assert answer.status_code in (200, 409), answer.text


@pytest.mark.parametrize("settings", ["sqlite", "temporal"], indirect=True)
async def test_the_pending_panel_shows_a_retried_activity_and_its_last_failure(
    server: Server, pending_worker: Any, page: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    workflow_id = await open_run(page, server, "DeclinedPayment", ["o-42"], "running")
    panel = page.locator("#waiting")
    row = panel.locator("table.pending-activities tbody tr")
    await expect(row.locator("th")).to_contain_text("charge_card", timeout=WAIT)
    # The panel follows the retries: an attempt after the first, of the policy's 100.
    await expect(row.locator(".attempt")).to_have_text(
        re.compile(r"^([2-9]|\d\d+) of 100$"), timeout=WAIT
    )
    failure = row.locator(".last-failure")
    await expect(failure).to_contain_text("the payment gateway refused o-42", timeout=WAIT)
    causes = failure.locator("details.causes")
    await expect(causes.locator("p", has_text="did not answer within 5 s")).to_be_hidden()
    await causes.locator("summary").click()
    await expect(causes.locator("p", has_text="did not answer within 5 s")).to_be_visible(
        timeout=WAIT
    )
    child = panel.get_by_role("link", name=f"{workflow_id}-child")
    await expect(child).to_be_visible()
    await expect(panel.locator("#stuck")).to_have_count(0)
    await panel.screenshot(path=artifacts / "pending.png")
    docs_image(artifacts / "pending.png", "console-pending.png")

    await _terminate(server, f"{workflow_id}-child", workflow_id)
    await expect(page.locator("#run-state")).to_have_text("terminated", timeout=WAIT)
    await expect(panel.locator("section")).to_have_count(0, timeout=WAIT)  # closed: gone


@pytest.mark.parametrize("settings", ["sqlite", "postgres", "temporal"], indirect=True)
async def test_a_run_on_a_queue_nobody_polls_shows_the_no_worker_warning(
    server: Server, page: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    queue = f"nobody-{uuid.uuid4().hex[:6]}"
    workflow_id = f"lost-{uuid.uuid4().hex[:8]}"
    await server.start("DeclinedPayment", ["o-7"], workflow_id, task_queue=queue)
    await page.goto(server.url + "/runs/" + workflow_id)
    stuck = page.locator("#waiting #stuck")
    await expect(stuck).to_contain_text("No worker moves this run", timeout=WAIT)
    await expect(stuck).to_contain_text(f"no worker has polled task queue '{queue}'")
    await page.locator("#waiting").screenshot(path=artifacts / "stuck.png")
    docs_image(artifacts / "stuck.png", "console-stuck.png")

    # The Workers page says so for the queue, on every executor.
    await page.goto(server.url + "/console/workers?task_queue=" + queue)
    section = page.locator(f'section.queue-workers[data-queue="{queue}"]')
    await expect(section.locator(".no-worker")).to_contain_text("No workers polling", timeout=WAIT)
    await _terminate(server, workflow_id)


@pytest.mark.parametrize("settings", ["sqlite", "temporal"], indirect=True)
async def test_the_workers_page_lists_a_running_worker_with_its_types(
    server: Server, pending_worker: Any, page: Any, artifacts: Path, settings: Settings
) -> None:
    from playwright.async_api import expect

    internal = settings.executor.value == "internal"
    if internal:
        # A queue with work and no worker, for the page to warn about next to the live one.
        await server.start("DeclinedPayment", ["o-9"], f"late-{uuid.uuid4().hex[:8]}", "payments")
    await page.get_by_role("navigation").get_by_role("link", name="Workers").click()
    await expect(page.get_by_role("heading", name="Workers", exact=True)).to_be_visible(
        timeout=WAIT
    )
    await page.get_by_role("textbox", name="Task queue").fill(QUEUE)
    await page.get_by_role("button", name="Show").click()
    section = page.locator(f'section.queue-workers[data-queue="{QUEUE}"]')
    worker = section.locator("tr[data-worker]").first
    await expect(worker).to_be_visible(timeout=WAIT)
    await expect(section.locator(".no-worker")).to_have_count(0)
    if not internal:
        # Temporal's pollers give their host and process, not their types.
        await expect(worker).to_contain_text("not reported")
        return
    await expect(worker.locator("td.types").first).to_contain_text("DeclinedPayment")
    await expect(worker.locator("td.types").nth(1)).to_have_text("charge_card")
    await expect(worker).to_contain_text("ago")
    # Every queue: the live one, and the one with work and no worker.
    await page.get_by_role("link", name="Every queue").click()
    warned = page.locator('section.queue-workers[data-queue="payments"] .no-worker')
    await expect(warned).to_contain_text("No workers polling", timeout=WAIT)
    await page.screenshot(path=artifacts / "workers.png", full_page=True)
    docs_image(artifacts / "workers.png", "console-workers.png")
    # The home page's queues say it too, linking to the page.
    await page.goto(server.url + "/")
    row = page.locator('table.queues tr[data-queue="payments"]')
    await expect(row.get_by_role("link", name="No workers polling")).to_be_visible(timeout=WAIT)
    await expect(page.locator(f'table.queues tr[data-queue="{QUEUE}"]')).to_contain_text("1 worker")
