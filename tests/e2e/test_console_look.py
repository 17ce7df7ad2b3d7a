"""What a run's page looks like, in a real browser: a run no worker can start looks waiting,
a failed workflow task has its own glyph, event attributes read as JSON with stack traces as
text, attempt labels are never cut, and an approval run's bar keeps its outcome's colour."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import WAIT, Server, open_run

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.parametrize("settings", ["sqlite"], indirect=True),
]


_COLOURS = """([badge, legendKey]) => {
  const of = (selector, pseudo) => getComputedStyle(document.querySelector(selector), pseudo);
  return {
    badge: of(badge).color,
    legend: of(legendKey, "::before").backgroundColor,
    running: of(".legend .k-running", "::before").backgroundColor,
  };
}"""


async def test_a_run_no_worker_can_start_looks_waiting_and_its_failed_tasks_have_a_glyph(
    server: Server, worker: Any, page: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    workflow_id = f"mistyped-{uuid.uuid4().hex[:6]}"
    await server.start("Chekout", ["cart-7"], workflow_id)  # registered on no worker
    await page.goto(server.url + "/runs/" + workflow_id)
    failed = page.locator('#timeline [data-kind="task-failed"]')
    await expect(failed.first).to_be_visible(timeout=WAIT)
    await expect(page.locator("#run-state")).to_have_text("claimed")
    response = await server.call("POST", f"/workflows/{workflow_id}/signals/nudge", {"args": [1]})
    assert response.status_code == 202, response.text
    signal = page.locator('#timeline [data-kind="signal"]')
    await expect(signal).to_have_count(1, timeout=WAIT)

    # The badge has the legend's colour for waiting, not the one for running.
    colours = await page.evaluate(_COLOURS, ["#run-state", ".legend .k-wait"])
    assert colours["badge"] == colours["legend"]
    assert colours["badge"] != colours["running"]
    bar = page.locator('#timeline rect[data-kind="workflow"]')
    await expect(bar).to_have_class("bar wait")
    await expect(bar).to_have_attribute("data-outcome", "claimed")

    # A failed task is drawn with a glyph of its own, red as its legend entry.
    assert await failed.first.get_attribute("data-shape") == "triangle"
    assert await signal.get_attribute("data-shape") == "diamond"
    legend = page.locator(".legend .k-task-failed")
    await expect(legend).to_have_text("workflow task failed")
    fill = await failed.first.evaluate("node => getComputedStyle(node).fill")
    key = await legend.evaluate("node => getComputedStyle(node, '::before').backgroundColor")
    assert fill == key
    signal_fill = await signal.evaluate("node => getComputedStyle(node).fill")
    assert signal_fill != fill

    # Attributes: indented JSON with the characters as they are.
    await page.locator("#details summary", has_text="events").click()
    row = page.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name="workflow_task_failed")
    )
    attrs = await row.first.locator("pre.attrs").inner_text()
    assert "'Chekout' is not registered" in attrs
    assert "\\u0027" not in attrs
    assert '\n  "failure": {\n    "kind": "application",' in attrs
    await page.screenshot(path=artifacts / "stuck.png", full_page=True)


async def test_stack_traces_read_as_text(
    server: Server, worker: Any, page: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    await open_run(page, server, "Release", ["2.5.0"], "waiting_approval")
    await page.locator("#details summary", has_text="events").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="retry_scheduled"))
    attrs = await row.locator("pre.attrs").inner_text()
    assert '"stack_trace": "(shown below: stack trace of failure)"' in attrs
    assert "\\n" not in attrs
    await row.locator("summary", has_text="Stack trace of failure").click()
    trace = row.locator("pre.stack")
    await expect(trace).to_be_visible()
    lines = (await trace.inner_text()).splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert any(
        'raise ApplicationError("the registry is busy; try again")' in line for line in lines
    )
    assert lines[-1].endswith("ApplicationError: the registry is busy; try again")
    # The page redraws its live parts: a picture of the page, not of a row that may go.
    await page.screenshot(path=artifacts / "stack-trace.png")


async def test_a_completed_approval_run_is_drawn_completed(
    server: Server, worker: Any, page: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    workflow_id = await open_run(page, server, "Deploy", ["prod"], "waiting_approval")
    response = await server.call(
        "POST", f"/workflows/{workflow_id}/approvals/deploy/approve", {"by": "dana"}
    )
    assert response.status_code == 200, response.text
    await expect(page.locator("#run-state")).to_have_text("completed", timeout=WAIT)
    bar = page.locator('#timeline rect[data-kind="workflow"]')
    await expect(bar).to_have_attribute("data-outcome", "completed", timeout=WAIT)
    waited = page.locator('#timeline rect[data-kind="waiting"]')
    await expect(waited).to_have_count(1)
    box = await bar.bounding_box()
    strip = await waited.bounding_box()
    assert box is not None
    assert strip is not None
    # Over the time the run waited, as elsewhere, what shows at the bar's middle is the
    # completed bar; the wait is a thin strip along its bottom.
    middle = box["y"] + box["height"] / 2
    for x in (strip["x"] + strip["width"] / 2, box["x"] + box["width"] - 4):
        seen = await page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y).getAttribute('data-kind')", [x, middle]
        )
        assert seen == "workflow", x
    assert strip["height"] < box["height"] / 2
    assert strip["y"] + strip["height"] <= box["y"] + box["height"] + 0.5
    await page.locator(".timeline-box").screenshot(path=artifacts / "approval-run.png")


_ATTEMPTS = """async () => {
  const { draw } = await import("/static/console/timeline-draw.js");
  const box = document.createElement("div");
  box.style.width = "1000px";
  document.body.append(box);
  const at = (ms) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
  const events = [];
  const add = (type, ms, attributes) => {
    events.push({ seq: events.length + 1, type, at: at(ms), attributes });
  };
  add("workflow_started", 0, { workflow_type: "Probe" });
  add("activity_scheduled", 0, { activity_seq: 1, activity_type: "probe" });
  // attempts 10 to 42 ms long (a ms is about a px here), then one that ends the run
  for (let n = 1; n <= 9; n++) {
    const start = 10 + 80 * (n - 1);
    add("activity_started", start, { activity_seq: 1, attempt: n });
    add("retry_scheduled", start + 6 + 4 * n, { activity_seq: 1, attempt: n });
  }
  add("activity_started", 744, { activity_seq: 1, attempt: 10 });
  add("activity_completed", 761, { activity_seq: 1, attempt: 10 });
  add("workflow_completed", 762, {});
  draw(box, events, false, "completed");
  const svgBox = box.querySelector("svg").getBoundingClientRect();
  const bars = Array.from(box.querySelectorAll('rect[data-kind="activity"]'));
  return Array.from(box.querySelectorAll(".bar-label")).map((label) => {
    const text = label.textContent;
    const bar = bars.find((b) => "#" + b.dataset.attempt === text).getBoundingClientRect();
    const next = bars.find((b) => b.getBoundingClientRect().left > bar.right);
    const own = label.getBoundingClientRect();
    return {
      text, outside: label.classList.contains("outside"), left: own.left, right: own.right,
      barLeft: bar.left, barRight: bar.right, svgRight: svgBox.right,
      nextLeft: next ? next.getBoundingClientRect().left : svgBox.right,
    };
  });
}"""


async def test_attempt_labels_are_never_cut(server: Server, page: Any) -> None:
    from playwright.async_api import expect

    await open_run(page, server, "Deploy", ["prod"], "queued")  # any run page: its script
    await expect(page.locator("#timeline svg")).to_be_visible(timeout=WAIT)
    labels = await page.evaluate(_ATTEMPTS)
    # Every attempt of 10 px or more has a label, inside its bar or just after it.
    assert sorted(label["text"] for label in labels) == sorted(f"#{n}" for n in range(1, 11))
    assert any(not label["outside"] for label in labels)
    assert any(label["outside"] for label in labels)
    for label in labels:
        if label["outside"]:
            assert label["left"] >= label["barRight"], label
            assert label["right"] <= label["nextLeft"], label
        else:
            assert label["left"] >= label["barLeft"], label
            assert label["right"] <= label["barRight"], label
        assert label["right"] <= label["svgRight"], label
