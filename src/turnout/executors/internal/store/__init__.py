"""The internal store: one domain-level interface, a hook class per dialect.

Where things live:

- ``protocol``: :class:`StoreProtocol`, every operation and capability, documented.
- ``base``: :class:`Store`, the SQLAlchemy Core implementation, one class of the role
  modules below; ``postgres`` and ``sqlite`` its dialect hooks; ``open_store`` picks one.
- Roles: ``runs`` (start, read, steer), ``queue`` (claim, timers, leases, release),
  ``quarantine``, ``workflow_tasks`` (commit, fail, abandon) with ``commit_plan`` (a
  commit worked out before writing, no database) and ``apply`` (what its commands
  start and cancel), ``activities``, ``maintenance`` (the reaper's), ``governance``,
  ``updates`` (requests, their decisions and outcomes), ``figures``.
- Shared: ``tx`` (the one transaction helper every write goes through), ``core``
  (appends, guarded transitions, closing and creating runs), ``items`` (ending leased
  items), ``records`` (typed records in and out), ``rows`` (row mappers), ``sql`` (SQL
  helpers), ``errors``, ``notify`` (wake-ups).

An operation with knobs takes one params record, a frozen dataclass in ``records``
(``StartParams``, ``ClaimParams``, ``WorkflowTaskCommit``, ``FailActivityParams``,
``UpdateRequestParams``, ``SignalParams``,
``FireTimersParams``, ``RunFilter``, ``ApprovalFilter``, ``ExpiredRunsParams``): a new
knob is a field with a default, and no caller changes. What the operation acts on (an
item, a tenant or run id) stays a plain argument, and so does a lone optional setting
(``complete_activity``'s ``eager``); ``tests/store`` checks it.
"""

from __future__ import annotations

from turnout.executors.internal.migrate import database_dialect
from turnout.executors.internal.store.activity_task import ActivityTask
from turnout.executors.internal.store.base import (
    ClaimedItem,
    EagerClaim,
    RunSnapshot,
    StaleTaskError,
    StartParams,
    StartResult,
    Store,
    StoreProtocol,
    UnhandledSignalError,
)
from turnout.executors.internal.store.notify import Notifier
from turnout.executors.internal.store.records import (
    ActivityLookup,
    ApprovalFilter,
    ClaimParams,
    ExpiredRunsParams,
    FailActivityParams,
    FireTimersParams,
    RunFilter,
    SignalParams,
    UpdateRecord,
    UpdateRequestParams,
    WorkflowTaskCommit,
)

__all__ = [
    "ActivityLookup",
    "ActivityTask",
    "ApprovalFilter",
    "ClaimParams",
    "ClaimedItem",
    "EagerClaim",
    "ExpiredRunsParams",
    "FailActivityParams",
    "FireTimersParams",
    "Notifier",
    "RunFilter",
    "RunSnapshot",
    "SignalParams",
    "StaleTaskError",
    "StartParams",
    "StartResult",
    "Store",
    "StoreProtocol",
    "UnhandledSignalError",
    "UpdateRecord",
    "UpdateRequestParams",
    "WorkflowTaskCommit",
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
