"""``turnout schema create | show | migrate``: the internal executor's tables."""

from __future__ import annotations

import contextlib

import click

from turnout.cli._context import settings_for
from turnout.cli._errors import guard
from turnout.cli._output import err, out

__all__ = ["register"]


@click.group()
def schema() -> None:
    """The internal executor's schema (PostgreSQL or SQLite)."""


@schema.command(name="create")
@click.pass_context
def schema_create(ctx: click.Context) -> None:
    """Create the tables (idempotent)."""
    from turnout.executors.internal.migrate import create_schema

    url = settings_for(ctx).database_url
    guard(lambda: create_schema(url))
    err.print(f"schema ready in {url}")


@schema.command(name="show")
@click.option("--dialect", type=click.Choice(["postgresql", "sqlite"]),
              help="Default: the configured database's.")  # fmt: skip
@click.pass_context
def schema_show(ctx: click.Context, dialect: str | None) -> None:
    """Print the DDL (for Alembic/Flyway users) and the database's revision."""
    from turnout.executors.internal.migrate import current_revision, ddl

    settings = settings_for(ctx)
    out.print(ddl(dialect or settings.dialect), markup=False)
    with contextlib.suppress(Exception):
        err.print(
            f"-- revision of {settings.database_url}: {current_revision(settings.database_url)}"
        )


@schema.command(name="migrate")
@click.option("--revision", default="head", show_default=True)
@click.pass_context
def schema_migrate(ctx: click.Context, revision: str) -> None:
    """Upgrade the schema with the shipped migrations."""
    from turnout.executors.internal.migrate import current_revision, migrate

    url = settings_for(ctx).database_url
    guard(lambda: migrate(url, revision))
    err.print(f"schema of {url} at revision {current_revision(url)}")


def register(group: click.Group) -> None:
    """Add ``turnout schema`` and its subcommands to ``group``."""
    group.add_command(schema)
