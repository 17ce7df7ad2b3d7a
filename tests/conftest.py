"""Fixtures every test directory shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from turnout.testing import LocalPostgres, ServerError
from turnout.testing.servers import REQUIRE_POSTGRES_ENV, env_flag


@pytest.fixture
def own_postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL cluster of this test's own, to pause, stop or restart (the one the
    other tests share is never stopped).

    ``synchronous_commit`` is on (the kit turns it off for speed): with it off, an
    immediate restart may lose the last commits the server had already acknowledged,
    and a test would see a loss that is the server's configuration, not turnout's.
    """
    try:
        server = LocalPostgres(settings={"synchronous_commit": "on"}).start()
    except ServerError as exc:
        if env_flag(REQUIRE_POSTGRES_ENV):
            pytest.fail(f"a local PostgreSQL cluster is needed: {exc}", pytrace=False)
        pytest.skip(f"a local PostgreSQL cluster is needed: {exc}")
    try:
        yield server
    finally:
        server.stop()
