"""API tokens (digests in a file, re-read on change) and the OpenAPI document's coverage."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from turnout import ConfigurationError
from turnout.cli import cli
from turnout.http import api
from turnout.http.auth import TokenFile, new_token, parse_tokens, token_digest, token_line
from turnout.http.schemas import openapi_document


def test_a_token_is_random_and_only_its_digest_is_written() -> None:
    first, second = new_token(), new_token()
    assert first != second
    assert len(first) > 40
    line = token_line("acme", first)
    assert line == f"acme sha256:{hashlib.sha256(first.encode()).hexdigest()}"
    assert first not in line
    assert parse_tokens(line) == {token_digest(first): "acme"}


def test_the_file_allows_comments_blank_lines_and_several_tokens_per_tenant() -> None:
    a, b, c = new_token(), new_token(), new_token()
    text = f"""
# who may call the API
{token_line("acme", a)}   # the deploy bot

{token_line("acme", b)}
globex	sha256:{token_digest(c).removeprefix("sha256:").upper()}
"""
    assert parse_tokens(text) == {
        token_digest(a): "acme",
        token_digest(b): "acme",
        token_digest(c): "globex",
    }


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("acme", "line 2: expected 'TENANT sha256:<64 hex digits>'"),
        ("acme sha256:abc", "turnout token create --tenant TENANT"),
        ("acme md5:" + "0" * 64, "line 2"),
        ("bad/tenant sha256:" + "0" * 64, "is not valid"),
        ("changeme sha256:" + "0" * 64, "placeholder"),
    ],
)
def test_a_bad_line_is_refused_with_its_number_and_the_fix(line: str, expected: str) -> None:
    with pytest.raises(ConfigurationError, match="line 2") as refused:
        parse_tokens(f"# header\n{line}\n", "tokens")
    assert expected in str(refused.value)


def test_one_token_for_two_tenants_is_refused() -> None:
    token = new_token()
    text = f"{token_line('acme', token)}\n{token_line('globex', token)}\n"
    with pytest.raises(ConfigurationError, match="already given to tenant 'acme'"):
        parse_tokens(text)


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="turnout token create --tenant"):
        TokenFile.open(tmp_path / "nope")


def test_the_file_is_re_read_when_it_changes_and_a_broken_change_keeps_the_old_tokens(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tokens"
    old, added = new_token(), new_token()
    path.write_text(token_line("acme", old) + "\n")
    tokens = TokenFile.open(path)
    assert tokens.tenant_of(old) == "acme"
    assert tokens.tenant_of(added) is None

    path.write_text(token_line("acme", old) + "\n" + token_line("globex", added) + "\n")
    os.utime(path, ns=(1, 2))  # a new mtime even on coarse clocks
    assert tokens.tenant_of(added) == "globex"

    path.write_text("this is not a tokens file\n")
    os.utime(path, ns=(3, 4))
    assert tokens.tenant_of(added) == "globex"  # the last good tokens stay in force
    assert tokens.tenant_of(old) == "acme"

    path.write_text(token_line("acme", old) + "\n")  # revoking globex's token
    os.utime(path, ns=(5, 6))
    assert tokens.tenant_of(added) is None


def test_a_deleted_file_revokes_every_token_logs_once_and_a_restored_one_counts_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens"
    token = new_token()
    path.write_text(token_line("acme", token) + "\n")
    tokens = TokenFile.open(path)
    assert tokens.tenant_of(token) == "acme"

    path.unlink()
    with caplog.at_level(logging.WARNING, logger="turnout.http"):
        for _ in range(3):
            assert tokens.tenant_of(token) is None
    assert tokens.problem is not None
    assert str(path) in tokens.problem
    assert [r.levelno for r in caplog.records] == [logging.ERROR]

    caplog.clear()
    path.write_text(token_line("acme", token) + "\n")
    with caplog.at_level(logging.WARNING, logger="turnout.http"):
        assert tokens.tenant_of(token) == "acme"
    assert tokens.problem is None
    assert "is back" in caplog.text


def test_token_create_prints_the_token_then_its_line() -> None:
    done = CliRunner().invoke(cli, ["token", "create", "--tenant", "acme"])
    assert done.exit_code == 0, done.output
    token, line = [row for row in done.stdout.splitlines() if row.strip()][-2:]
    assert parse_tokens(line) == {token_digest(token): "acme"}

    refused = CliRunner().invoke(cli, ["token", "create", "--tenant", "not a tenant"])
    assert refused.exit_code == 2
    assert "--tenant" in refused.output


def test_the_openapi_document_has_exactly_the_api_routes() -> None:
    document = openapi_document()
    documented = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    served = {
        (route.path.replace(":path}", "}"), method)
        for route in api.routes()
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert documented == served
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (path, method)
            if path != "/healthz":
                assert "401" in op["responses"], (path, method)
    schemas = document["components"]["schemas"]
    assert {"Run", "Event", "Approval", "PolicyDecision", "Artifact", "ErrorBody"} <= set(schemas)
