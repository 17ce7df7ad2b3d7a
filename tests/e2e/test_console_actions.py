"""A run's actions in a real browser: cancel, terminate with a reason, signal with JSON
arguments (and an inline error for arguments that are not), re-run with the same input,
and the server's one-line answer to an action on a run that closed meanwhile."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import WAIT, Server, docs_image, open_run
from turnout.config import Settings

pytestmark = pytest.mark.timeout(150)


async def _open_inbox(page: Any, server: Server, args: list[Any]) -> str:
    """Start an Inbox and open its page once it runs; its workflow id."""
    return await open_run(page, server, "Inbox", args, "running")


async def _described(server: Server, workflow_id: str) -> dict[str, Any]:
    response = await server.call("GET", f"/workflows/{workflow_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _events(server: Server, workflow_id: str, kind: str) -> list[dict[str, Any]]:
    response = await server.call("GET", f"/workflows/{workflow_id}/events")
    assert response.status_code == 200, response.text
    return [e for e in response.json() if e["type"] == kind]


def _accept_dialogs(page: Any, asked: list[str]) -> None:
    """Accept every confirmation the page asks for, keeping its question."""

    async def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)


@pytest.mark.parametrize("settings", ["sqlite", "temporal"], indirect=True)
async def test_cancel_and_terminate_from_the_console(
    server: Server, worker: Any, page: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    asked: list[str] = []
    _accept_dialogs(page, asked)

    canceled = await _open_inbox(page, server, ["ann"])
    cancel = page.get_by_role("button", name="Cancel run")
    await cancel.click()
    await expect(page.locator("#run-state")).to_have_text("canceled", timeout=WAIT)
    assert (await _described(server, canceled))["state"] == "canceled"
    assert len(await _events(server, canceled, "workflow_cancel_requested")) == 1
    assert asked
    assert "Cancel this run?" in asked[0]
    # What cannot apply to a closed run is no longer offered.
    await expect(cancel).to_be_hidden(timeout=WAIT)
    await expect(page.get_by_role("button", name="Terminate run")).to_be_hidden()
    await expect(page.get_by_role("button", name="Send signal")).to_be_hidden()
    await page.screenshot(path=artifacts / "canceled.png", full_page=True)

    terminated = await _open_inbox(page, server, ["bob"])
    await page.get_by_label("Termination reason").fill("stuck behind a bad deploy")
    await page.locator("#actions").screenshot(path=artifacts / "actions.png")
    docs_image(artifacts / "actions.png", "console-actions.png")
    await page.get_by_role("button", name="Terminate run").click()
    await expect(page.locator("#run-state")).to_have_text("terminated", timeout=WAIT)
    assert (await _described(server, terminated))["state"] == "terminated"
    [event] = await _events(server, terminated, "workflow_terminated")
    assert event["attributes"]["reason"] == "stuck behind a bad deploy"
    await expect(page.get_by_role("button", name="Cancel run")).to_be_hidden(timeout=WAIT)
    await page.reload()  # the server's first paint of a closed run offers no such action
    await expect(page.locator("#run-state")).to_have_text("terminated", timeout=WAIT)
    assert await page.get_by_role("button", name="Cancel run").count() == 0
    assert await page.get_by_role("button", name="Terminate run").is_hidden()


@pytest.mark.parametrize("settings", ["sqlite", "temporal"], indirect=True)
async def test_signal_with_json_arguments(
    server: Server, settings: Settings, worker: Any, page: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    workflow_id = await _open_inbox(page, server, ["ann"])

    args = page.get_by_label("Arguments (a JSON array)")
    problem = page.locator("#signal-args-error")
    send = page.get_by_role("button", name="Send signal")
    await page.get_by_label("Signal name").fill("add")
    await args.fill('["milk", "2 litres"')
    await send.click()
    await expect(problem).to_contain_text("The arguments are not valid JSON", timeout=WAIT)
    await expect(args).to_have_attribute("aria-invalid", "true")
    await expect(args).to_be_focused()
    await page.locator("#actions").screenshot(path=artifacts / "invalid-json.png")
    docs_image(artifacts / "invalid-json.png", "console-signal-invalid.png")
    await args.fill('{"item": "milk"}')
    await send.click()
    await expect(problem).to_contain_text("must be a JSON array", timeout=WAIT)
    assert await _events(server, workflow_id, "signal_received") == []  # nothing was sent

    await args.fill('["milk", "2 litres, it\'s for the café"]')
    await expect(problem).to_be_empty()
    await send.click()
    await expect(page.locator("#action-status")).to_have_text("Signal add sent.", timeout=WAIT)
    await expect(page.locator('#timeline [data-kind="signal"][data-name="add"]')).to_have_count(
        1, timeout=WAIT
    )
    if settings.executor.value == "internal":  # Temporal's mapped history has no payloads
        [event] = await _events(server, workflow_id, "signal_received")
        assert event["attributes"]["args"] == ["milk", "2 litres, it's for the café"]

    await page.get_by_label("Signal name").fill("close")
    await args.fill("")
    await send.click()
    await expect(page.locator("#action-status")).to_have_text("Signal close sent.", timeout=WAIT)
    await expect(page.locator("#run-state")).to_have_text("completed", timeout=WAIT)
    result = (await _described(server, workflow_id))["result"]
    assert result == ["ann", None, {"item": "milk", "note": "2 litres, it's for the café"}]


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_rerun_with_the_same_input(
    server: Server, worker: Any, page: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    given = ["ann", {"max": 3, "note": "it's <b>bold</b>"}]
    first = await _open_inbox(page, server, given)
    response = await server.call("POST", f"/workflows/{first}/signals/close")
    assert response.status_code == 202, response.text
    await expect(page.locator("#run-state")).to_have_text("completed", timeout=WAIT)

    await page.get_by_role("button", name="Re-run with the same input").click()
    await expect(page).to_have_url(
        re.compile(re.escape(server.url + "/runs/" + first) + r"-rerun-[0-9a-f]{8}$"), timeout=WAIT
    )
    second = page.url.rsplit("/", 1)[1]
    await expect(page.get_by_role("heading", name=second)).to_be_visible(timeout=WAIT)
    await expect(page.locator("#run-state")).to_have_text("running", timeout=WAIT)
    old, new = await _described(server, first), await _described(server, second)
    assert new["workflow_id"] != old["workflow_id"]
    assert new["run_id"] != old["run_id"]
    assert new["correlation_id"] != old["correlation_id"]
    for same in ("workflow_type", "task_queue", "input"):
        assert new[same] == old[same], same
    assert new["input"] == given
    await expect(page.get_by_role("button", name="Cancel run")).to_be_visible()
    await page.screenshot(path=artifacts / "rerun.png", full_page=True)


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_an_action_on_a_run_that_closed_shows_the_servers_answer(
    server: Server, worker: Any, page: Any, artifacts: Path
) -> None:
    """The page does not learn that the run closed (its live updates are cut), so it still
    offers the actions: each is refused by the server, whose one line is shown."""
    from playwright.async_api import expect

    asked: list[str] = []
    _accept_dialogs(page, asked)
    workflow_id = await _open_inbox(page, server, ["ann"])
    await page.route(re.compile(r"/(events|panel)(\?.*)?$"), lambda route: route.abort())
    await page.reload()
    await expect(page.locator("#run-state")).to_have_text("running", timeout=WAIT)
    response = await server.call("POST", f"/workflows/{workflow_id}/terminate", {"reason": "x"})
    assert response.status_code == 200, response.text

    status = page.locator("#action-status")
    await page.get_by_label("Signal name").fill("add")
    await page.get_by_label("Arguments (a JSON array)").fill('["milk"]')
    await page.get_by_role("button", name="Send signal").click()
    await expect(status).to_contain_text(f"workflow '{workflow_id}' run", timeout=WAIT)
    await expect(status).to_contain_text("is terminated; signal 'add' needs an open run")
    await expect(status).to_have_class(re.compile(r"\brefused\b"))
    await page.locator("#actions").screenshot(path=artifacts / "refused.png")
    await page.get_by_role("button", name="Cancel run").click()
    await expect(status).to_contain_text("is terminated; cancel needs an open run", timeout=WAIT)
    text = await status.inner_text()
    assert "\n" not in text
    assert "Traceback" not in text
    assert await _events(server, workflow_id, "workflow_cancel_requested") == []
    docs_image(artifacts / "refused.png", "console-action-refused.png")
