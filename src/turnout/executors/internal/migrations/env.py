"""Alembic environment of turnout's internal store.

Run through :func:`turnout.executors.internal.migrate.migrate` (``turnout schema
migrate``), which passes an open connection in ``config.attributes["connection"]``;
or with ``sqlalchemy.url`` set on the config (any URL turnout accepts), or offline
(``--sql``) to print the SQL. Revisions are recorded in ``turnout_alembic_version``.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from turnout.contracts.errors import ConfigurationError
from turnout.executors.internal import schema
from turnout.executors.internal.migrate import (
    VERSION_TABLE,
    make_engine,
    schema_lock,
    sqlalchemy_url,
)

config = context.config
target_metadata = schema.metadata


def _options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "version_table": VERSION_TABLE,
        "render_as_batch": dialect_name == "sqlite",
        "compare_type": True,
    }


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise ConfigurationError(
            "turnout's migrations need a database: pass a connection in "
            'config.attributes["connection"] or set sqlalchemy.url'
        )
    return url


def run_migrations_offline() -> None:
    """Print the migrations' SQL for the configured URL instead of running it."""
    url = sqlalchemy_url(_url())
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_options(make_url(url).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name))
    with context.begin_transaction():
        schema_lock(connection)
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on a new one to the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as new_connection:
            _run_on(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
