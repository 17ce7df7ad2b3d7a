"""The sign-in form's CSRF token: ``POST /login`` must come from this site's login page.

Without a check, a page of another site could post its own token to ``/login`` in a
visitor's browser and sign them in as the attacker (login CSRF): what they then enter or
approve would land in the attacker's tenant. The ``SameSite=Strict`` session cookie does
not help there, as the request sets that cookie rather than sending it.

So the form carries a token, checked as a double-submitted cookie:

- ``GET /login`` sets the cookie :data:`COOKIE` (random, 256 bits; HttpOnly,
  ``SameSite=Strict``, sent only to ``/login``) and puts the same value in the form's
  hidden field :data:`FIELD`;
- ``POST /login`` is refused (403, the form shown again with a fresh token) unless the
  field equals the cookie, and when the browser says the request is cross-site
  (``Sec-Fetch-Site: cross-site``).

Another site can neither read the cookie nor make the browser send it (SameSite), so it
cannot fill the field with the right value.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["COOKIE", "FIELD", "attach", "new_token", "problem", "token_for"]

COOKIE = "turnout_csrf"
"""The cookie holding the sign-in form's token."""
FIELD = "csrf_token"
"""The sign-in form's hidden field holding the same token."""

_PATH = "/login"
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_token() -> str:
    """A fresh token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_for(request: Request) -> str:
    """The request's token (its cookie, when well formed), or a fresh one."""
    found = request.cookies.get(COOKIE, "")
    return found if _SHAPE.match(found) else new_token()


def attach(response: Response, token: str, request: Request) -> Response:
    """Set the token's cookie on a response that shows the sign-in form."""
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=_PATH,
    )
    return response


def problem(request: Request, form: Mapping[str, Sequence[str]]) -> str | None:
    """Why a posted sign-in form is refused (a sentence for the person), or None."""
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        return "This sign-in was sent from another site, so it was refused. Log in here."
    cookie = request.cookies.get(COOKIE, "")
    sent = (form.get(FIELD) or [""])[0]
    if not _SHAPE.match(cookie) or not hmac.compare_digest(cookie.encode(), sent.encode()):
        return (
            "This sign-in form had expired or did not come from this page, so it was refused. "
            "Paste your token again."
        )
    return None
