"""Settings: defaults, environment variables, pyproject.toml and clear errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from turnout.config import Environment, ExecutorKind, Settings, database_dialect, load_settings
from turnout.contracts import ConfigurationError

ACCEPTED = ("postgresql://", "sqlite:///")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No TURNOUT_* variable from the outside, and no pyproject.toml but the test's own."""
    for name in list(os.environ):
        if name.upper().startswith("TURNOUT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.executor is ExecutorKind.INTERNAL
    assert settings.database_url == "sqlite:///turnout.db"
    assert settings.dialect == "sqlite"
    assert settings.temporal_address == "127.0.0.1:7233"
    assert settings.temporal_namespace == "default"
    assert settings.env is Environment.DEVELOPMENT
    assert settings.allow_sqlite_in_production is False
    assert settings.tenant_id == "default"


def test_executor_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNOUT_EXECUTOR", "temporal")
    assert load_settings().executor is ExecutorKind.TEMPORAL


def test_database_url_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://turnout:turnout@db.internal:5432/turnout"
    monkeypatch.setenv("TURNOUT_DATABASE_URL", url)
    settings = load_settings()
    assert settings.database_url == url
    assert settings.dialect == "postgresql"


def test_other_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNOUT_TEMPORAL_ADDRESS", "temporal:7233")
    monkeypatch.setenv("TURNOUT_TEMPORAL_NAMESPACE", "shop")
    monkeypatch.setenv("TURNOUT_ENV", "production")
    monkeypatch.setenv("TURNOUT_ALLOW_SQLITE_IN_PRODUCTION", "true")
    monkeypatch.setenv("TURNOUT_TENANT_ID", "acme")
    settings = load_settings()
    assert settings.temporal_address == "temporal:7233"
    assert settings.temporal_namespace == "shop"
    assert settings.env is Environment.PRODUCTION
    assert settings.allow_sqlite_in_production is True
    assert settings.tenant_id == "acme"


def test_keyword_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNOUT_EXECUTOR", "temporal")
    assert load_settings(executor="internal").executor is ExecutorKind.INTERNAL


def test_none_overrides_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNOUT_EXECUTOR", "temporal")
    assert load_settings(executor=None).executor is ExecutorKind.TEMPORAL


def test_pyproject_is_read_below_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.turnout]\nexecutor = "temporal"\ntenant_id = "from-pyproject"\n'
    )
    settings = load_settings()
    assert settings.executor is ExecutorKind.TEMPORAL
    assert settings.tenant_id == "from-pyproject"
    monkeypatch.setenv("TURNOUT_TENANT_ID", "from-env")
    assert load_settings().tenant_id == "from-env"


def test_unknown_executor_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNOUT_EXECUTOR", "celery")
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    message = str(info.value)
    assert "TURNOUT_EXECUTOR" in message
    assert "celery" in message
    assert "internal" in message
    assert "temporal" in message


def test_mysql_url_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNOUT_DATABASE_URL", "mysql://u:p@db:3306/app")
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    message = str(info.value)
    assert "TURNOUT_DATABASE_URL" in message
    assert "mysql" in message
    for form in ACCEPTED:
        assert form in message


@pytest.mark.parametrize("value", ["not a url", "", "localhost:5432"])
def test_non_url_is_explained(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TURNOUT_DATABASE_URL", value)
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    message = str(info.value)
    assert "TURNOUT_DATABASE_URL" in message
    assert repr(value) in message
    for form in ACCEPTED:
        assert form in message


def test_bad_database_url_as_keyword_is_explained() -> None:
    with pytest.raises(ConfigurationError, match="TURNOUT_DATABASE_URL"):
        load_settings(database_url="oracle://scott:tiger@db/orcl")


def test_bad_boolean_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNOUT_ALLOW_SQLITE_IN_PRODUCTION", "perhaps")
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert "TURNOUT_ALLOW_SQLITE_IN_PRODUCTION" in str(info.value)
    assert "perhaps" in str(info.value)


def test_configuration_error_is_not_a_pydantic_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNOUT_EXECUTOR", "celery")
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    ("url", "dialect"),
    [
        ("postgresql://user:pass@host:5432/db", "postgresql"),
        ("postgresql+psycopg://user:pass@host/db", "postgresql"),
        ("postgres://user@host/db", "postgresql"),
        ("sqlite:///path/to/file.db", "sqlite"),
        ("sqlite:////abs/path/file.db", "sqlite"),
        ("sqlite+aiosqlite:///file.db", "sqlite"),
        ("sqlite://", "sqlite"),
    ],
)
def test_supported_urls_are_accepted(url: str, dialect: str) -> None:
    assert database_dialect(url) == dialect
    settings = load_settings(database_url=url)
    assert settings.database_url == url
    assert settings.dialect == dialect


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="TURNOUT_COLOUR"):
        load_settings(colour="blue")


def test_settings_class_reads_the_environment_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNOUT_EXECUTOR", "temporal")
    assert Settings().executor is ExecutorKind.TEMPORAL


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:pass@host:5432/db",
        "postgresql+psycopg://user:pass@host/db",
        "postgres://user@host/db",
        "postgresql://[::1]:5432/db",
        "sqlite:///path/to/file.db",
        "sqlite+aiosqlite:///file.db",
        "sqlite://",
        "sqlite:///file.db?mode=ro",
        "oracle://scott:tiger@db/orcl",
        "mysql+pymysql://u@h/d",
        "not a url",
        "",
        "postgresql//host/db",
        "postgresql://host:port/db",
    ],
)
def test_config_reads_a_url_as_the_store_does(url: str) -> None:
    """config tells a URL's dialect without SQLAlchemy; the store with it: they agree."""
    from turnout.executors.internal.migrate import database_dialect as store_dialect

    def outcome(read: Callable[[str], str]) -> str:
        try:
            return read(url)
        except (ConfigurationError, ValueError) as exc:
            return f"{type(exc).__name__}: {str(exc).split(';')[0]}"

    assert outcome(database_dialect) == outcome(store_dialect)
