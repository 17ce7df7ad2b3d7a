"""A server on this machine only, without tokens: ``turnout serve`` on a loopback address
with no tokens file.

Every request then acts for one tenant (the settings' ``TURNOUT_TENANT_ID``) without a
token. Only this machine can connect, and two checks keep a browser's other pages out:

- the request's ``Host`` must be a loopback name (``127.0.0.1``, ``localhost``, ``[::1]``),
  so a site whose name resolves to 127.0.0.1 (DNS rebinding) is refused;
- a request that changes something (any method but GET, HEAD and OPTIONS) must not come
  from another site's page: its ``Origin``, when the browser sends one, is this server,
  and ``Sec-Fetch-Site`` is not ``cross-site``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from starlette.requests import Request

__all__ = ["NoTokens", "is_loopback", "local_problem"]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name, an IPv6 address maybe in brackets) is this
    machine only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    """The name of a ``Host`` header, without its port."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def local_problem(request: Request) -> str | None:
    """Why a request without a token may not act on a tokenless local server, or None."""
    host = request.headers.get("host", "")
    if not is_loopback(_host_name(host)):
        return (
            f"this server takes requests without a token from this machine only, and "
            f"{host or 'no host'!r} is not a loopback name: open it as http://127.0.0.1"
        )
    if request.method in _SAFE_METHODS:
        return None
    origin = request.headers.get("origin")
    same = f"{request.url.scheme}://{host}"
    if (origin and origin != same) or request.headers.get("sec-fetch-site") == "cross-site":
        return f"a change from another site's page ({origin or 'cross-site'}) is refused"
    return None


class NoTokens:
    """The tokens of a tokenless local server: none is valid."""

    problem: str | None = None

    def tenant_of(self, token: str) -> str | None:
        """No token acts for a tenant here (requests without one act for the server's)."""
        return None

    @property
    def tenants(self) -> Mapping[str, str]:
        """No token, no tenant."""
        return {}
