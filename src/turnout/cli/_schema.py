"""``turnout schema create | show | migrate``: the internal executor's tables."""

from __future__ import annotations

import click

from turnout.cli._context import internal_only
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

    url = internal_only(ctx, "schema create").database_url
    guard(lambda: create_schema(url), database_url=url)
    err.print(f"schema ready in {url}")


@schema.command(name="show")
@click.option("--dialect", type=click.Choice(["postgresql", "sqlite"]),
              help="Default: the configured database's.")  # fmt: skip
@click.pass_context
def schema_show(ctx: click.Context, dialect: str | None) -> None:
    """Print the DDL (for Alembic/Flyway users) and the database's revision; with
    --dialect, only the DDL, without touching a database."""
    from turnout.executors.internal.migrate import current_revision, ddl

    if dialect is not None:
        out.print(ddl(dialect), markup=False)
        return
    settings = internal_only(ctx, "schema show")
    url = settings.database_url
    revision = guard(lambda: current_revision(url), database_url=url)
    out.print(ddl(settings.dialect), markup=False)
    err.print(f"-- revision of {url}: {revision}")


@schema.command(name="migrate")
@click.option("--revision", default="head", show_default=True)
@click.pass_context
def schema_migrate(ctx: click.Context, revision: str) -> None:
    """Upgrade the schema with the shipped migrations."""
    from turnout.executors.internal.migrate import current_revision, migrate

    url = internal_only(ctx, "schema migrate").database_url
    guard(lambda: migrate(url, revision), database_url=url)
    err.print(f"schema of {url} at revision {current_revision(url)}")


def register(group: click.Group) -> None:
    """Add ``turnout schema`` and its subcommands to ``group``."""
    group.add_command(schema)
