"""What a command needs from the global options and its arguments: the settings, a
connected client, the workflows and activities of the modules it names, policies."""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import click

from turnout._discovery import load_definitions
from turnout.cli._errors import BadConfiguration, BadInput
from turnout.cli._modules import import_modules
from turnout.config import ExecutorKind, Settings, load_settings
from turnout.contracts.errors import TurnoutError

__all__ = ["connected", "definitions", "internal_only", "load_policy", "settings_for"]


def settings_for(ctx: click.Context) -> Settings:
    """The settings: ``TURNOUT_*`` and ``[tool.turnout]``, overridden by the global options."""
    options = ctx.find_root().params
    try:
        return load_settings(
            executor=options.get("executor"),
            database_url=options.get("database_url"),
            temporal_address=options.get("temporal_address"),
            temporal_namespace=options.get("namespace"),
            tenant_id=options.get("tenant"),
        )
    except TurnoutError as exc:
        raise BadConfiguration(str(exc)) from exc


def internal_only(ctx: click.Context, command: str) -> Settings:
    """The settings of a command that works on the internal executor's database only
    (``turnout schema``, ``turnout demo``); BadConfiguration when Temporal is configured."""
    settings = settings_for(ctx)
    if settings.executor is not ExecutorKind.INTERNAL:
        raise BadConfiguration(
            f"turnout {command} works on the internal executor's database, and "
            f"TURNOUT_EXECUTOR is {settings.executor.value}: unset TURNOUT_EXECUTOR or pass "
            "--executor internal"
        )
    return settings


@contextlib.asynccontextmanager
async def connected(
    ctx: click.Context, workflows: Sequence[type] = (), *, reads_only: bool = False
) -> AsyncIterator[Any]:
    """A client of the configured executor, closed on leaving. A command that only reads
    (``reads_only``) makes no database: a SQLite file that is not there is an error that
    says so, instead of an empty database left in the current directory."""
    import turnout

    settings = settings_for(ctx)
    if reads_only:
        _database_exists(settings)
    connected = await turnout.connect(settings=settings, workflows=workflows)
    try:
        yield connected
    finally:
        await connected.close()


def _database_exists(settings: Settings) -> None:
    from turnout.config import database_dialect

    url = settings.database_url
    if settings.executor is not ExecutorKind.INTERNAL or database_dialect(url) != "sqlite":
        return
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path or path.startswith(":memory:") or path.startswith("file:"):
        return
    if not os.path.exists(path):
        raise BadConfiguration(
            f"no database at {os.path.abspath(path)}: nothing has run with this "
            "TURNOUT_DATABASE_URL yet; point it at your database (turnout doctor shows it)"
        )


def definitions(modules: Sequence[str]) -> tuple[list[type], list[Callable[..., Any]]]:
    """The workflows and activities found in ``modules`` (``MODULE[:ATTR]``)."""
    if not modules:
        return [], []
    import_modules(modules)  # `turnout worker myapp` finds ./myapp, as python -m does
    try:
        found = load_definitions(modules)
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        raise BadInput(
            f"{exc}; name a module (and optionally an attribute) that holds @workflow.defn "
            "classes or @activity.defn functions, as MODULE or MODULE:ATTR"
        ) from None
    return list(found.workflows), list(found.activities)


def load_policy(target: str) -> Callable[..., Any]:
    """The policy named ``MODULE:ATTR`` (``--policy``)."""
    module_name, _, attr = target.partition(":")
    if not attr:
        raise BadInput(f"--policy {target!r}: name the policy as MODULE:ATTR")
    import_modules([module_name])
    try:
        policy = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise BadInput(
            f"--policy {target!r}: {exc}; name a callable of that module as MODULE:ATTR"
        ) from None
    if not callable(policy):
        raise BadInput(f"--policy {target!r} is not callable; name a function or a class")
    return policy  # type: ignore[no-any-return]
