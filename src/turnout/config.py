"""Settings: environment variables (``TURNOUT_*``), ``[tool.turnout]`` in pyproject.toml, defaults.

Precedence, highest first: keyword arguments to :func:`turnout.connect`, the
environment, ``pyproject.toml``, the defaults below.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    PyprojectTomlConfigSettingsSource,
    SettingsConfigDict,
)

from turnout.contracts.errors import ConfigurationError

__all__ = ["Environment", "ExecutorKind", "Settings", "database_dialect", "load_settings"]


class ExecutorKind(StrEnum):
    """Which executor runs the workflows."""

    INTERNAL = "internal"
    TEMPORAL = "temporal"


class EventLoop(StrEnum):
    """The event loop ``turnout worker`` runs on."""

    ASYNCIO = "asyncio"
    UVLOOP = "uvloop"


class Environment(StrEnum):
    """Deployment environment; ``production`` turns on the durability gate."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


_ACCEPTED_URLS = "postgresql://user:pass@host:5432/db or sqlite:///path/to/file.db"


_URL = re.compile(
    r"""
        (?P<name>[\w+]+)://
        (?:[^:/]*(?::[^@]*)?@)?
        (?:(?:\[[^/?]+\]|[^/:?]+)?(?::(?P<port>[^/?]*))?)?
    """,
    re.X,
)
"""The start of a database URL: ``driver://[user[:password]@][host][:port]``, read as
SQLAlchemy reads it (the store opens the URL with SQLAlchemy; config needs only its
dialect)."""


def database_dialect(url: str) -> str:
    """``postgresql`` or ``sqlite`` for a database URL, or raise ConfigurationError."""
    found = _URL.match(url)
    if found is None:
        raise ConfigurationError(
            f"TURNOUT_DATABASE_URL {url!r} is not a database URL; use {_ACCEPTED_URLS}"
        )
    if found["port"]:
        int(found["port"])  # a port that is not a number is a ValueError, as in SQLAlchemy
    backend = found["name"].split("+")[0]
    if backend in {"postgresql", "postgres"}:
        return "postgresql"
    if backend == "sqlite":
        return "sqlite"
    raise ConfigurationError(
        f"TURNOUT_DATABASE_URL uses {backend!r}, which turnout does not support; "
        f"use {_ACCEPTED_URLS}"
    )


class Settings(BaseSettings):
    """turnout's settings. Every field reads from ``TURNOUT_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="TURNOUT_",
        extra="forbid",
        pyproject_toml_table_header=("tool", "turnout"),
    )

    executor: ExecutorKind = ExecutorKind.INTERNAL
    database_url: str = "sqlite:///turnout.db"
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    env: Environment = Environment.DEVELOPMENT
    allow_sqlite_in_production: bool = False
    tenant_id: str = "default"
    max_payload_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    """The largest JSON payload (input, signal arguments, result) the internal executor
    accepts; Temporal enforces its own server limit."""
    event_loop: EventLoop = EventLoop.ASYNCIO
    """The event loop of ``turnout worker``: Python's own, or uvloop (``pip install
    'turnout[uvloop]'``), whose wake-ups cost less CPU."""
    api_tokens_file: str | None = None
    """The HTTP API's tokens file (``turnout serve``): one ``TENANT sha256:HEX`` line per
    token; ``turnout token create`` prints a token and its line."""

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        database_dialect(value)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, PyprojectTomlConfigSettingsSource(settings_cls))

    @property
    def dialect(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return database_dialect(self.database_url)


def load_settings(**overrides: Any) -> Settings:
    """Settings from keyword overrides, the environment and pyproject.toml.

    A bad value raises :class:`ConfigurationError` naming the setting, what was
    given, and what is accepted.
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**overrides)
    except ConfigurationError:
        raise
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "settings"
            given = error.get("input")
            cause = error.get("ctx", {}).get("error")
            message = str(cause) if isinstance(cause, ConfigurationError) else error["msg"]
            problems.append(f"TURNOUT_{field.upper()}={given!r}: {message}")
        raise ConfigurationError("invalid turnout settings: " + "; ".join(problems)) from None
