"""With TURNOUT_ENV=production, a store that can lose runs is refused, with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

import turnout
from turnout import ConfigurationError


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNOUT_ENV", "production")


@pytest.mark.usefixtures("production")
async def test_sqlite_is_refused_in_production_with_what_to_set(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'turnout.db'}"
    with pytest.raises(ConfigurationError) as refused:
        await turnout.connect(executor="internal", database_url=url)
    message = str(refused.value)
    assert "TURNOUT_ENV=production refuses SQLite" in message
    assert "TURNOUT_DATABASE_URL=postgresql://" in message
    assert "TURNOUT_ALLOW_SQLITE_IN_PRODUCTION=1" in message
    assert not (tmp_path / "turnout.db").exists()  # refused before anything was created


@pytest.mark.usefixtures("production")
async def test_sqlite_is_accepted_when_knowingly_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURNOUT_ALLOW_SQLITE_IN_PRODUCTION", "1")
    client = await turnout.connect(
        executor="internal", database_url=f"sqlite:///{tmp_path / 'turnout.db'}"
    )
    try:
        assert client.is_durable is True
    finally:
        await client.close()


@pytest.mark.usefixtures("production")
async def test_an_in_memory_database_is_refused_even_when_sqlite_is_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TURNOUT_ALLOW_SQLITE_IN_PRODUCTION", "1")
    with pytest.raises(ConfigurationError, match="in-memory database"):
        await turnout.connect(executor="internal", database_url="sqlite:///:memory:")


async def test_a_worker_refuses_to_start_on_sqlite_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await turnout.connect(
        executor="internal", database_url=f"sqlite:///{tmp_path / 'turnout.db'}"
    )
    try:
        monkeypatch.setenv("TURNOUT_ENV", "production")
        with pytest.raises(ConfigurationError, match="refuses SQLite"):
            turnout.Worker(client, task_queue="q", activities=[_noop])
    finally:
        await client.close()


async def test_an_in_memory_database_is_not_durable() -> None:
    client = await turnout.connect(executor="internal", database_url="sqlite:///:memory:")
    try:
        assert client.is_durable is False
    finally:
        await client.close()


@turnout.activity.defn
async def _noop() -> None:
    return None
