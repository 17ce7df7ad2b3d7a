"""The internal store: one domain-level interface, a hook class per dialect."""

from __future__ import annotations

from turnout.executors.internal.migrate import database_dialect
from turnout.executors.internal.store.base import (
    ClaimedItem,
    EagerClaim,
    StaleTaskError,
    StartParams,
    StartResult,
    Store,
    UnhandledSignalError,
)
from turnout.executors.internal.store.notify import Notifier

__all__ = [
    "ClaimedItem",
    "EagerClaim",
    "Notifier",
    "StaleTaskError",
    "StartParams",
    "StartResult",
    "Store",
    "UnhandledSignalError",
    "open_store",
]


def open_store(url: str, notifier: Notifier | None = None) -> Store:
    """The store for a ``postgresql://`` or ``sqlite:///`` URL."""
    notifier = notifier or Notifier()
    if database_dialect(url) == "postgresql":
        from turnout.executors.internal.store.postgres import PostgresStore

        return PostgresStore(url, notifier)
    from turnout.executors.internal.store.sqlite import SqliteStore

    return SqliteStore(url, notifier)
