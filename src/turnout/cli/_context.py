"""What a command needs from the global options and its arguments: the settings, a
connected client, the workflows and activities of the modules it names, policies."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import click

from turnout._discovery import load_definitions
from turnout.config import Settings, load_settings
from turnout.contracts.errors import TurnoutError

__all__ = ["connected", "definitions", "load_policy", "settings_for"]


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
        raise click.UsageError(str(exc)) from exc


@contextlib.asynccontextmanager
async def connected(ctx: click.Context, workflows: Sequence[type] = ()) -> AsyncIterator[Any]:
    """A client of the configured executor, closed on leaving."""
    import turnout

    connected = await turnout.connect(settings=settings_for(ctx), workflows=workflows)
    try:
        yield connected
    finally:
        await connected.close()


def definitions(modules: Sequence[str]) -> tuple[list[type], list[Callable[..., Any]]]:
    """The workflows and activities found in ``modules`` (``MODULE[:ATTR]``)."""
    if not modules:
        return [], []
    if os.getcwd() not in sys.path:  # `turnout worker myapp` finds ./myapp, as python -m does
        sys.path.insert(0, os.getcwd())
    try:
        found = load_definitions(modules)
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="MODULE") from exc
    return list(found.workflows), list(found.activities)


def load_policy(target: str) -> Callable[..., Any]:
    """The policy named ``MODULE:ATTR`` (``--policy``)."""
    module_name, _, attr = target.partition(":")
    if not attr:
        raise click.BadParameter(
            f"{target!r}: name the policy as MODULE:ATTR", param_hint="--policy"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        policy = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"{target!r}: {exc}", param_hint="--policy") from exc
    if not callable(policy):
        raise click.BadParameter(f"{target!r} is not callable", param_hint="--policy")
    return policy  # type: ignore[no-any-return]
