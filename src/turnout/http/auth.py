"""Bearer tokens mapped to tenants, kept as SHA-256 digests in a tokens file.

The tokens file has one token a line: ``TENANT sha256:HEX`` (the tenant id, then the
SHA-256 of the token); blank lines and lines starting with ``#`` are ignored, and
anything after a ``#`` on a line is a comment. ``turnout token create --tenant T``
prints a fresh token once, with the line to add. The server re-reads the file when it
changes, so tokens can be added or revoked without a restart; a file that no longer
parses keeps the previous tokens in force (and the server logs why). A file that is gone
(or cannot be read) revokes every token until it is back: each request is refused with a
401 that names the file, and the server logs it once.

A request carries its token as ``Authorization: Bearer <token>`` or, from the web
console, as the ``turnout_token`` cookie (HttpOnly, SameSite=Strict). A request
authenticated by the cookie that changes something (any method but GET, HEAD and
OPTIONS) must also carry the header ``X-Turnout-Console: 1``: a page of another site
cannot add that header, so it cannot act with a visitor's cookie.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from turnout.contracts.errors import ConfigurationError
from turnout.contracts.governance import validate_tenant

__all__ = [
    "CONSOLE_HEADER",
    "COOKIE",
    "TokenFile",
    "new_token",
    "parse_tokens",
    "token_digest",
    "token_line",
]

log = logging.getLogger("turnout.http")

COOKIE = "turnout_token"
"""The cookie the web console keeps the token in."""
CONSOLE_HEADER = "X-Turnout-Console"
"""The header (value ``1``) a cookie-authenticated request that changes something carries."""
TOKEN_PREFIX = "tnt_"

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def new_token() -> str:
    """A fresh random token (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """``sha256:HEX`` of a token: what the tokens file stores."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_line(tenant: str, token: str) -> str:
    """The tokens file line that lets ``token`` act for ``tenant``."""
    return f"{validate_tenant(tenant)} {token_digest(token)}"


def parse_tokens(text: str, source: str = "tokens file") -> dict[str, str]:
    """The digest -> tenant map of a tokens file's text; ConfigurationError on a bad line."""
    tokens: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        where = f"{source}, line {number}"
        if len(parts) != 2 or not _DIGEST.match(parts[1].lower()):
            raise ConfigurationError(
                f"{where}: expected 'TENANT sha256:<64 hex digits>', got {raw.strip()!r}; "
                "`turnout token create --tenant TENANT` prints a correct line"
            )
        tenant, digest = parts[0], parts[1].lower()
        try:
            validate_tenant(tenant)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
        if digest in tokens and tokens[digest] != tenant:
            raise ConfigurationError(
                f"{where}: this token is already given to tenant {tokens[digest]!r}; "
                "a token belongs to one tenant: create another with `turnout token create`"
            )
        tokens[digest] = tenant
    return tokens


@dataclass
class TokenFile:
    """The tokens of a file, re-read when the file changes."""

    path: Path
    _tokens: dict[str, str] = field(default_factory=dict)
    _stamp: tuple[int, int] | None = None
    problem: str | None = None
    """Why no token is valid now (the file is gone or unreadable), or None."""

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> TokenFile:
        """Read the file now; ConfigurationError when it is missing or does not parse."""
        tokens = cls(Path(path).expanduser())
        if not tokens.path.is_file():
            raise ConfigurationError(
                f"the API tokens file {tokens.path} does not exist; create a token with "
                "`turnout token create --tenant TENANT` and add the line it prints to that file"
            )
        tokens._load()
        return tokens

    def _load(self) -> None:
        stat = self.path.stat()
        self._tokens = parse_tokens(self.path.read_text(encoding="utf-8"), str(self.path))
        self._stamp = (stat.st_mtime_ns, stat.st_size)

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
        except OSError as exc:
            self._revoke_all(exc)
            return
        if (stat.st_mtime_ns, stat.st_size) == self._stamp:
            return
        try:
            self._load()
            if self.problem is not None:
                log.warning("the tokens file %s is back; its tokens are in force", self.path)
                self.problem = None
        except OSError as exc:
            self._revoke_all(exc)
        except (ConfigurationError, UnicodeDecodeError) as exc:
            log.error("the tokens file changed but is not valid (%s); keeping its tokens", exc)
            self._stamp = (stat.st_mtime_ns, stat.st_size)

    def _revoke_all(self, exc: OSError) -> None:
        """Fail closed: no file, no valid token (logged once, until the file is back)."""
        if self.problem is None:
            log.error(
                "cannot read the API tokens file %s (%s): every request is refused until "
                "it is back",
                self.path,
                exc.strerror or exc,
            )
        self.problem = (
            f"the server's API tokens file {self.path} cannot be read "
            f"({exc.strerror or type(exc).__name__}), so no token is valid: restore the file "
            "(`turnout token create --tenant TENANT` prints the lines it holds)"
        )
        self._tokens = {}
        self._stamp = None

    def tenant_of(self, token: str) -> str | None:
        """The tenant a token acts for, or None when the token is unknown."""
        self._refresh()
        return self._tokens.get(token_digest(token))

    @property
    def tenants(self) -> Mapping[str, str]:
        """The digest -> tenant map in force."""
        return dict(self._tokens)
