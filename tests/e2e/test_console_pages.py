"""The console's pages over HTTP, without a browser: sign-in, filters, pages, escaping,
the run panel, the task queues. SQLite; runs stay queued (no worker)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


@pytest.fixture
async def anonymous(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        yield http


async def log_in(http: httpx.AsyncClient, token: str, target: str = "/") -> httpx.Response:
    """Post the sign-in form as a browser does: read the form first, for its CSRF token."""
    form = await http.get("/login")
    assert form.status_code == 200, form.text
    found = re.search(r'name="csrf_token" value="([\w-]+)"', form.text)
    assert found, form.text
    return await http.post(
        "/login", data={"token": token, "next": target, "csrf_token": found.group(1)}
    )


@pytest.fixture
async def browser_like(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in through /login, holding the cookie as a browser would."""
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        response = await log_in(http, server.token)
        assert response.status_code == 303, response.text
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        yield http


async def test_pages_need_a_login_and_the_login_goes_back_only_to_this_site(
    server: Server, anonymous: httpx.AsyncClient
) -> None:
    for path in ("/", "/runs/x", "/?state=queued"):
        response = await anonymous.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    panel = await anonymous.get("/runs/x/panel")
    assert panel.status_code == 401
    assert panel.json()["error"]["code"] == "unauthorized"

    refused = await log_in(anonymous, "tnt_wrong")
    assert refused.status_code == 401
    assert "not valid" in refused.text
    empty = await log_in(anonymous, "")
    assert empty.status_code == 401
    huge = await log_in(anonymous, "x" * 20_000)
    assert huge.status_code == 413
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "runs"):
        response = await log_in(anonymous, server.token, target)
        assert response.status_code == 303
        assert response.headers["location"] == "/"
    kept = await log_in(anonymous, server.token, "/runs/a?b=1")
    assert kept.headers["location"] == "/runs/a?b=1"


async def test_filters_pages_and_queues(server: Server, browser_like: httpx.AsyncClient) -> None:
    for n in range(3):
        await server.start("Deploy", ["prod"], f"page-{n}", "pages")
    await server.start("Deploy", ["prod"], "other-0", "elsewhere")

    home = await browser_like.get("/")
    assert home.status_code == 200
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    assert home.headers["x-frame-options"] == "DENY"
    queues = home.text[: home.text.index('id="runs-title"')]
    assert re.search(r"pages</a></th>\s*<td class=\"num\">3</td>", queues), queues
    assert re.search(r"elsewhere</a></th>\s*<td class=\"num\">1</td>", queues)

    first = await browser_like.get("/", params={"task_queue": "pages", "limit": "2"})
    assert first.text.count("data-workflow-id=") == 2
    # The console pages with the API's cursor (the position of the page's last run).
    older = re.search(
        r'href="/\?task_queue=pages&amp;cursor=([\w-]+)&amp;limit=2" rel="next"', first.text
    )
    assert older, first.text
    assert 'rel="first"' not in first.text
    assert "other-0" not in first.text
    second = await browser_like.get(
        "/", params={"task_queue": "pages", "limit": "2", "cursor": older.group(1)}
    )
    assert second.text.count("data-workflow-id=") == 1
    assert 'rel="first"' in second.text
    assert 'rel="next"' not in second.text
    stale = await browser_like.get("/", params={"task_queue": "pages", "cursor": "nonsense"})
    assert stale.status_code == 400
    assert "out of date" in stale.text

    partial = await browser_like.get("/", params={"state": "queued", "partial": "runs"})
    assert partial.text.count("data-workflow-id=") == 4
    assert "<html" not in partial.text
    figures = await browser_like.get("/", params={"partial": "queues"})
    assert re.search(r"pages</a></th>\s*<td class=\"num\">3</td>", figures.text)
    assert "<html" not in figures.text
    none = await browser_like.get("/", params={"state": "completed"})
    assert "No runs match." in none.text
    bad = await browser_like.get("/", params={"state": "sleeping"})
    assert bad.status_code == 400
    assert "unknown state &#39;sleeping&#39;" in bad.text


async def test_a_run_page_escapes_what_the_run_carries(
    server: Server, browser_like: httpx.AsyncClient
) -> None:
    nasty = "</script><img src=x onerror=alert(1)>"
    await server.start("Deploy", ["prod"], nasty, "pages")
    found = await browser_like.get("/", params={"partial": "runs"})
    assert nasty not in found.text
    path = found.text.split('<a href="')[1].split('"')[0]
    page = await browser_like.get(path)
    assert page.status_code == 200
    assert nasty not in page.text
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text

    panel = await browser_like.get(path + "/panel", params={"after": "0"})
    body = panel.json()
    assert (body["state"], body["open"]) == ("queued", True)
    assert body["events"][0]["type"] == "workflow_started"
    assert nasty not in body["summary"]
    later = await browser_like.get(path + "/panel", params={"after": "1"})
    assert all(e["seq"] > 1 for e in later.json()["events"])

    missing = await browser_like.get("/runs/no-such-run")
    assert missing.status_code == 404
    assert "No such workflow" in missing.text
    gone = await browser_like.get("/runs/no-such-run/panel")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "workflow_not_found")


async def test_static_files_and_logout(server: Server, browser_like: httpx.AsyncClient) -> None:
    script = await browser_like.get("/static/console.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    style = await browser_like.get("/static/console.css")
    assert style.headers["content-type"].startswith("text/css")

    out = await browser_like.post("/logout", headers={"X-Turnout-Console": "1"})
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert "max-age=0" in out.headers["set-cookie"].lower()
    assert (await browser_like.get("/")).status_code == 303
