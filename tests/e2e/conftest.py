"""A real server (uvicorn in a thread), a real worker and a real headless Chromium.

The browser is Debian's ``/usr/bin/chromium`` driven by Playwright; nothing is
downloaded. Without that binary (or the ``playwright`` package) the tests skip, or
fail when ``TURNOUT_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import turnout
from tests import governance_workflows as gw
from tests.e2e import action_workflows as aw
from tests.e2e import release_workflow as rw
from turnout.config import Settings

CHROMIUM = os.environ.get("TURNOUT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
"""Screenshots of every run of the browser tests (git-ignored)."""
DOCS_IMAGES = Path(__file__).parents[2] / "docs" / "images"
"""The screenshots docs/console.md shows (see :func:`docs_image`)."""
QUEUE = "console-e2e"
TOKEN = "tnt_console-e2e-token-0123456789"
WAIT = 20_000
"""Milliseconds any one browser expectation may take."""


def _browser_missing(reason: str) -> None:
    if os.environ.get("TURNOUT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (TURNOUT_REQUIRE_BROWSER=1 is set)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgres", "temporal"])
def settings(request: pytest.FixtureRequest) -> Settings:
    """The server's and the worker's settings, once per executor."""
    if request.param == "temporal":
        return Settings(
            executor="temporal", temporal_address=request.getfixturevalue("temporal_address")
        )
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return Settings(executor="internal", database_url=request.getfixturevalue(fixture))


def _artifacts_of(node: pytest.Item) -> Path:
    return ARTIFACTS / node.name.replace("[", "-").replace("]", "").replace("/", "-")


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """A fresh directory for this test's screenshots under tests/e2e/artifacts/."""
    path = _artifacts_of(request.node)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@dataclass
class Server:
    """A running ``create_app`` server."""

    url: str
    token: str

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request to the API with the token; the ``httpx`` response."""
        import httpx

        async with httpx.AsyncClient(base_url=self.url, timeout=20) as http:
            return await http.request(
                method, path, json=body, headers={"Authorization": f"Bearer {self.token}"}
            )

    async def start(
        self, workflow: str, args: list[Any], workflow_id: str, task_queue: str = QUEUE
    ) -> dict[str, Any]:
        """``POST /workflows`` with the token; the 202 answer's body."""
        response = await self.call(
            "POST",
            "/workflows",
            {"workflow": workflow, "args": args, "id": workflow_id, "task_queue": task_queue},
        )
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body


async def open_run(page: Any, server: Server, workflow: str, args: list[Any], state: str) -> str:
    """Start a run of ``workflow`` (a fresh workflow id), open its page and wait there until
    it shows ``state``; the workflow id."""
    from playwright.async_api import expect

    workflow_id = f"{workflow.lower()}-{uuid.uuid4().hex[:8]}"
    await server.start(workflow, args, workflow_id)
    await page.goto(server.url + "/runs/" + workflow_id)
    await expect(page.locator("#run-state")).to_have_text(state, timeout=WAIT)
    return workflow_id


async def log_in(page: Any, server: Server) -> None:
    """Sign ``page`` in through the console's login form, from its home page."""
    from playwright.async_api import expect

    await page.goto(server.url + "/")
    await expect(page).to_have_url(server.url + "/login?next=%2F", timeout=WAIT)
    await page.get_by_label("API token").fill(server.token)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Runs")).to_be_visible(timeout=WAIT)


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` as ``turnout serve`` does (uvicorn, its timeouts for slow clients) on a
    free loopback port, in a thread; yield its URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    from turnout.http.server import server_config

    config = server_config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not uv.started and thread.is_alive() and time.monotonic() < deadline:
            thread.join(0.02)  # bounded: the server thread reports `started` or ends
        if not uv.started:
            pytest.fail("the console server did not start within 15 s", pytrace=False)
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(10)
        sock.close()


def docs_image(shot: Path, name: str) -> None:
    """With ``TURNOUT_DOCS_IMAGES=1``, copy a screenshot taken on SQLite (its artifacts
    directory says so) to ``docs/images/name``; the docs' images are made this way."""
    if os.environ.get("TURNOUT_DOCS_IMAGES") == "1" and shot.parent.name.endswith("-sqlite"):
        DOCS_IMAGES.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGES / name)


def tokens_file(directory: Path) -> Path:
    """A tokens file that gives :data:`TOKEN` to the tenant ``default``."""
    from turnout.http.auth import token_line

    path = directory / "tokens"
    path.write_text(token_line("default", TOKEN) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[Server]:
    """``turnout.http.create_app`` on the executor of ``settings``, served by uvicorn."""
    from turnout.http import create_app

    with serving(create_app(settings, tokens_file=tokens_file(tmp_path))) as url:
        yield Server(url=url, token=TOKEN)


@pytest.fixture
async def worker(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Any]:
    """A worker of the governance, release and inbox workflows on the console's task queue.
    When the test failed on the internal executor, the database's queue items and events
    are printed (the report shows them under "Captured stdout teardown")."""
    client = await turnout.connect(settings=settings)
    try:
        async with turnout.Worker(
            client,
            task_queue=QUEUE,
            workflows=[*gw.WORKFLOWS, *rw.WORKFLOWS, *aw.WORKFLOWS],
            activities=[*gw.ACTIVITIES, *rw.ACTIVITIES],
            policies=[gw.guard_policy],
        ) as running:
            yield running
            report = request.node.stash.get(_REPORT, None)
            if report is not None and report.failed and settings.executor.value == "internal":
                await print_database(client.store)
    finally:
        await client.close()


async def print_database(store: Any) -> None:
    """Print every queue item and event of ``store``'s database, one short line each (a
    failed test's evidence)."""
    from sqlalchemy import select

    from turnout.executors.internal.schema import events, queue_items

    q, e = queue_items.c, events.c
    async with store.engine.connect() as conn:
        print("--- queue items: id kind state run name attempt available_at lease_owner sticky")
        for row in await conn.execute(select(queue_items).order_by(q.id)):
            print(
                row.id,
                row.kind,
                row.state,
                row.run_id[:8],
                row.name,
                row.attempt,
                row.available_at,
                row.lease_owner,
                row.sticky_worker,
            )
        print("--- events: run seq at type attributes")
        for row in await conn.execute(select(events).order_by(e.id)):
            print(row.run_id[:8], row.seq, row.at, row.type, str(row.attributes)[:160])


_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    """Keep the report of each test's call, so the browser fixture knows it failed."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[_REPORT] = report


@pytest.fixture
async def browser(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A fresh Chromium context (its own user-data dir), 1280x900. When the test fails,
    each open page is saved as failed-N.png in the test's artifacts directory."""
    if not Path(CHROMIUM).exists():
        _browser_missing(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _browser_missing("the playwright package is not installed: pip install playwright")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
            report = request.node.stash.get(_REPORT, None)
            if report is not None and report.failed:
                where = _artifacts_of(request.node)
                where.mkdir(parents=True, exist_ok=True)
                for number, page in enumerate(context.pages, start=1):
                    await page.screenshot(path=where / f"failed-{number}.png", full_page=True)
        finally:
            await asyncio.wait_for(context.close(), 20)


@pytest.fixture
async def page(server: Server, browser: Any) -> Any:
    """A page of ``browser`` signed in to ``server``'s console."""
    page = await browser.new_page()
    await log_in(page, server)
    return page
