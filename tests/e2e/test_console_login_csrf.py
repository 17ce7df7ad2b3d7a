"""``POST /login`` carries the sign-in form's CSRF token: a form posted from anywhere but
the console's own login page signs nobody in (login CSRF), in a browser or not."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server
from tests.e2e.test_console_pages import log_in
from turnout.http.auth import COOKIE

pytestmark = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
WAIT = 15_000


def _form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([\w-]+)"', html)
    assert found, html
    return found.group(1)


async def test_a_sign_in_without_the_forms_token_is_refused(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        form = await http.get("/login")
        token = _form_token(form.text)
        assert "turnout_csrf=" in form.headers["set-cookie"]
        assert "path=/login" in form.headers["set-cookie"].lower()
        assert "samesite=strict" in form.headers["set-cookie"].lower()
        forged: list[dict[str, Any]] = [
            {"data": {"token": server.token}},  # no field: another site's form
            {"data": {"token": server.token, "csrf_token": "x" * 43}},  # a guess
            {"data": {"token": server.token, "csrf_token": token + "é"}},
            {
                "data": {"token": server.token, "csrf_token": token},
                "headers": {"Sec-Fetch-Site": "cross-site"},
            },
        ]
        for attempt in forged:
            refused = await http.post("/login", **attempt)
            assert refused.status_code == 403, attempt
            assert "was refused" in refused.text
            assert COOKIE not in refused.headers.get("set-cookie", "")
            # The form is shown again, with a fresh token that works.
            fresh = _form_token(refused.text)
            assert fresh != token
            token = fresh
        assert COOKIE not in http.cookies
        signed_in = await http.post("/login", data={"token": server.token, "csrf_token": token})
        assert signed_in.status_code == 303
        assert (await http.get("/")).status_code == 200

    async with httpx.AsyncClient(base_url=server.url, timeout=20) as stranger:
        # The right field without the cookie: what a page of another site could send.
        refused = await stranger.post("/login", data={"token": server.token, "csrf_token": token})
        assert refused.status_code == 403
        assert (await log_in(stranger, server.token)).status_code == 303


async def test_a_form_of_another_page_signs_nobody_in_but_the_login_page_does(
    server: Server, browser: Any
) -> None:
    from playwright.async_api import expect

    page = await browser.new_page()
    await page.goto(server.url + "/login")  # the browser holds the form's cookie now
    await page.set_content(  # another page (about:blank) posting its own token
        f'<form method="post" action="{server.url}/login">'
        '<input name="token" value="tnt_attackers-token"><button>go</button></form>'
    )
    await page.click("button")
    await expect(page.get_by_role("alert")).to_contain_text("was refused", timeout=WAIT)
    assert COOKIE not in {c["name"] for c in await browser.cookies()}

    await page.get_by_label("API token").fill(server.token)  # the page shown again works
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(server.url + "/", timeout=WAIT)
    assert COOKIE in {c["name"] for c in await browser.cookies()}
