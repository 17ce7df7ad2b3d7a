"""The internal store's tables: one SQLAlchemy Core ``MetaData`` for PostgreSQL and SQLite.

The only place the schema is written down: the DDL files under ``ddl/`` and the Alembic
baseline are generated from it (tests fail when either drifts). CHECK constraints carry the
state machines of runs, events and queue items: the database refuses a state Python does not know.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from turnout.contracts.events import EventType
from turnout.contracts.governance import ApprovalState
from turnout.contracts.records import DEFAULT_TENANT, DecisionOutcome, QueueItemKind, QueueItemState
from turnout.contracts.search_attributes import SearchAttributeIndexedValueType
from turnout.contracts.states import ACTIVE_STATES, TERMINAL_STATES, RunState
from turnout.contracts.updates import UpdateState
from turnout.executors.internal.column_types import BigId, JSONType, UTCDateTime

__all__ = [
    "OPEN_RUN",
    "SCHEMA_REVISION",
    "QueryState",
    "approvals",
    "artifacts",
    "events",
    "metadata",
    "policy_decisions",
    "queries",
    "queue_items",
    "runs",
    "schedules",
    "search_attribute_names",
    "search_values",
    "tasks",
    "updates",
    "workers",
]

SCHEMA_REVISION = "0011_claim_order"
"""The Alembic revision the MetaData corresponds to (the head of migrations/)."""

PREFIX = "turnout_"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _in(column: str, values: Any) -> str:
    quoted = ", ".join(f"'{v.value if hasattr(v, 'value') else v}'" for v in sorted(values))
    return f"{column} IN ({quoted})"


def _tenant() -> Column[str]:
    return Column("tenant_id", String(128), nullable=False, server_default=DEFAULT_TENANT)


_ACTIVE_RUN = text(_in("state", ACTIVE_STATES))
OPEN_RUN = _ACTIVE_RUN
"""The condition of an open run, as the unique index of open runs per workflow id has it:
a statement that says it this way may use that index (SQLite's and PostgreSQL's partial
index matching)."""
_READY = text("state = 'queued'")
_LEASED_SQL = _in("state", {QueueItemState.CLAIMED, QueueItemState.RUNNING})
_LEASED = text(_LEASED_SQL)
_PENDING_APPROVAL = text("state = 'pending'")
_PENDING_WFT = text(f"kind = '{QueueItemKind.WORKFLOW_TASK.value}' AND state = 'queued'")
_KEYED = text("idempotency_key IS NOT NULL")
_RUNNING_WFT = text(f"kind = '{QueueItemKind.WORKFLOW_TASK.value}' AND {_LEASED_SQL}")

tasks = Table(
    f"{PREFIX}tasks",
    metadata,
    Column("task_id", String(64), primary_key=True),
    _tenant(),
    Column("workflow_id", String(255), nullable=False),
    Column("workflow_type", String(255), nullable=False),
    Column("task_queue", String(255), nullable=False),
    Column("input", JSONType, nullable=False),
    Column("idempotency_key", String(255)),
    Column("correlation_id", String(64), nullable=False),
    Column("requested_at", UTCDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "idempotency_key"),
    Index(None, "tenant_id", "workflow_id"),
)

runs = Table(
    f"{PREFIX}runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("task_id", String(64), nullable=False),
    _tenant(),
    Column("workflow_id", String(255), nullable=False),
    Column("workflow_type", String(255), nullable=False),
    Column("task_queue", String(255), nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("state", String(32), nullable=False),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("input", JSONType, nullable=False),
    Column("result", JSONType),
    Column("failure", JSONType),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime()),
    Column("closed_at", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("execution_deadline", UTCDateTime()),
    Column("parent_workflow_id", String(255)),
    Column("parent_run_id", String(64)),
    Column("parent_ref", String(64)),
    Column("continued_from_run_id", String(64)),
    Column("next_seq", Integer, nullable=False, server_default="1"),
    Column("workflow_task_count", Integer, nullable=False, server_default="0"),
    Column("cancel_requested", Boolean, nullable=False, server_default=false()),
    Column("options", JSONType),
    Column("memo", JSONType),
    Column("search_attributes", JSONType),
    Column("sticky_worker", String(255)),  # committed its last task: holds it cached
    CheckConstraint(_in("state", RunState), name="state"),
    CheckConstraint(
        f"({_in('state', TERMINAL_STATES)}) = (closed_at IS NOT NULL)", name="closed_at"
    ),
    # One open run per workflow id and tenant: the database refuses a duplicate start.
    Index(
        None,
        "tenant_id",
        "workflow_id",
        unique=True,
        postgresql_where=_ACTIVE_RUN,
        sqlite_where=_ACTIVE_RUN,
    ),
    Index(None, "tenant_id", "workflow_id", "requested_at"),
    Index(None, "tenant_id", "state", "workflow_type"),
    Index(None, "parent_run_id"),
)

events = Table(
    f"{PREFIX}events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    _tenant(),
    Column("workflow_id", String(255), nullable=False),
    Column("type", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("attributes", JSONType, nullable=False),
    CheckConstraint(_in("type", EventType), name="type"),
    CheckConstraint("seq >= 1", name="seq"),
    UniqueConstraint("run_id", "seq"),
)

queue_items = Table(
    f"{PREFIX}queue_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    _tenant(),
    Column("task_queue", String(255), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("workflow_id", String(255), nullable=False),
    Column("name", String(255)),
    Column("ref", String(64)),
    Column("payload", JSONType, nullable=False),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("available_at", UTCDateTime(), nullable=False),
    Column("deadline_at", UTCDateTime()),
    Column("lease_owner", String(255)),
    Column("lease_expires_at", UTCDateTime()),
    Column("started_at", UTCDateTime()),
    Column("heartbeat_at", UTCDateTime()),
    Column("heartbeat_details", JSONType),
    Column("cancel_requested", Boolean, nullable=False, server_default=false()),
    Column("last_failure", JSONType),
    Column("idempotency_key", String(255)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("sticky_worker", String(255)),  # alone may claim it a while (STICKY_SECONDS)
    CheckConstraint(_in("kind", QueueItemKind), name="kind"),
    CheckConstraint(_in("state", QueueItemState), name="state"),
    CheckConstraint(
        f"({_LEASED_SQL}) = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)",
        name="lease",
    ),
    Index(
        "ix_turnout_queue_items_leased",
        "lease_expires_at",
        postgresql_where=_LEASED,
        sqlite_where=_LEASED,
    ),
    # At most one pending workflow task per run: new events coalesce into it.
    Index(
        "ix_turnout_queue_items_pending_wft",
        "run_id",
        unique=True,
        postgresql_where=_PENDING_WFT,
        sqlite_where=_PENDING_WFT,
    ),
    # The workflow task a run has leased, if any: what a claim checks for each candidate.
    Index(
        "ix_turnout_queue_items_running_wft",
        "run_id",
        postgresql_where=_RUNNING_WFT,
        sqlite_where=_RUNNING_WFT,
    ),
    Index(None, "run_id", "kind"),
    # Keyed items only: an unkeyed one (most) adds no entry at each of its rewrites.
    Index(
        "uq_turnout_queue_items_idempotency_key",
        "idempotency_key",
        unique=True,
        postgresql_where=_KEYED,
        sqlite_where=_KEYED,
    ),
)

# The ready set: small and hot whatever the size of the table, in claim order, so that a
# claim reads only the rows it takes (and those it must skip), not the whole backlog.
Index(
    "ix_turnout_queue_items_ready",
    queue_items.c.task_queue,
    queue_items.c.kind,
    queue_items.c.priority.desc(),
    queue_items.c.available_at,
    queue_items.c.id,
    postgresql_where=_READY,
    sqlite_where=_READY,
)

policy_decisions = Table(
    f"{PREFIX}policy_decisions",
    metadata,
    Column("decision_id", String(64), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("workflow_id", String(255), nullable=False),
    _tenant(),
    Column("name", String(255), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("decided_by", String(255)),
    Column("reason", Text),
    Column("decided_at", UTCDateTime(), nullable=False),
    Column("attributes", JSONType, nullable=False),
    CheckConstraint(_in("outcome", DecisionOutcome), name="outcome"),
    Index(None, "tenant_id", "run_id"),
)

artifacts = Table(
    f"{PREFIX}artifacts",
    metadata,
    Column("artifact_id", String(64), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("workflow_id", String(255), nullable=False),
    _tenant(),
    Column("name", String(255), nullable=False),
    Column("uri", Text, nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("size_bytes", BigInteger),
    Column("digest", String(255)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("attributes", JSONType, nullable=False),
    Index(None, "tenant_id", "run_id"),
)

approvals = Table(
    f"{PREFIX}approvals",
    metadata,
    Column("approval_id", String(64), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("workflow_id", String(255), nullable=False),
    _tenant(),
    Column("name", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("details", JSONType, nullable=False),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("timeout_at", UTCDateTime()),
    Column("decided_at", UTCDateTime()),
    Column("decided_by", String(255)),
    Column("reason", Text),
    CheckConstraint(_in("state", ApprovalState), name="state"),
    CheckConstraint("(state = 'pending') = (decided_at IS NULL)", name="decided_at"),
    # One pending approval per name and run: a decision names exactly one.
    Index(
        None,
        "run_id",
        "name",
        unique=True,
        postgresql_where=_PENDING_APPROVAL,
        sqlite_where=_PENDING_APPROVAL,
    ),
    Index(
        "ix_turnout_approvals_pending",
        "tenant_id",
        "requested_at",
        postgresql_where=_PENDING_APPROVAL,
        sqlite_where=_PENDING_APPROVAL,
    ),
)

_REQUESTED_UPDATE = text("state = 'requested'")

updates = Table(
    f"{PREFIX}updates",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("update_id", String(255), primary_key=True),
    Column("workflow_id", String(255), nullable=False),
    _tenant(),
    Column("name", String(255), nullable=False),
    Column("args", JSONType, nullable=False),
    Column("state", String(16), nullable=False),
    Column("result", JSONType),
    Column("failure", JSONType),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("header", JSONType),  # the payloads the caller's interceptors set
    CheckConstraint(_in("state", UpdateState), name="state"),
    # The requests a workflow task still has to decide, oldest first.
    Index(
        "ix_turnout_updates_requested",
        "run_id",
        "requested_at",
        postgresql_where=_REQUESTED_UPDATE,
        sqlite_where=_REQUESTED_UPDATE,
    ),
)


class QueryState(StrEnum):
    """Where a query request stands (``turnout_queries``).

    * ``requested`` - a client stored it and waits. Out: a worker of its task queue that
      has the workflow type registered claims it; or the caller stops waiting (deleted).
    * ``claimed`` - a worker is answering it. Out: the worker writes the answer.
    * ``answered`` - the handler's result, or the error, is written. Out: the caller reads
      it and deletes the request.

    A request in any state is deleted once its caller stopped waiting (``expires_at``):
    by the caller, else by a worker's sweep.
    """

    REQUESTED = "requested"
    CLAIMED = "claimed"
    ANSWERED = "answered"


_REQUESTED_QUERY = text("state = 'requested'")

queries = Table(
    f"{PREFIX}queries",
    metadata,
    Column("query_id", String(64), primary_key=True),
    _tenant(),
    Column("run_id", String(64), nullable=False),
    Column("workflow_id", String(255), nullable=False),
    Column("workflow_type", String(255), nullable=False),
    Column("task_queue", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("args", JSONType, nullable=False),
    Column("state", String(16), nullable=False),
    Column("result", JSONType),
    Column("error", Text),
    Column("answered_by", String(255)),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("header", JSONType),  # the payloads the caller's interceptors set
    CheckConstraint(_in("state", QueryState), name="state"),
    # What a worker polling a task queue has to answer, oldest first.
    Index(
        "ix_turnout_queries_requested",
        "task_queue",
        "requested_at",
        postgresql_where=_REQUESTED_QUERY,
        sqlite_where=_REQUESTED_QUERY,
    ),
    # What the sweep deletes: requests whose caller stopped waiting.
    Index("ix_turnout_queries_expires_at", "expires_at"),
)

search_attribute_names = Table(
    f"{PREFIX}search_attribute_names",
    metadata,
    _tenant(),
    Column("name", String(255), nullable=False),
    Column("type", String(16), nullable=False),
    PrimaryKeyConstraint("tenant_id", "name"),
    CheckConstraint(
        _in("type", {t.type_name for t in SearchAttributeIndexedValueType}), name="type"
    ),
)
"""The type of each search attribute name a tenant has used: fixed by its first use, as
registering it fixes it on Temporal."""

search_values = Table(
    f"{PREFIX}search_values",
    metadata,
    Column("run_id", String(64), nullable=False),
    _tenant(),
    Column("name", String(255), nullable=False),
    Column("position", Integer, nullable=False, server_default="0"),
    Column("keyword", String(255)),
    Column("text", Text),
    Column("integer", BigInteger),
    Column("real", Float(53)),
    Column("flag", Boolean),
    Column("moment", UTCDateTime()),
    PrimaryKeyConstraint("run_id", "name", "position"),
    # What a list query searches: one index per kind of value, by tenant and name.
    Index(None, "tenant_id", "name", "keyword"),
    Index(None, "tenant_id", "name", "integer"),
    Index(None, "tenant_id", "name", "real"),
    Index(None, "tenant_id", "name", "moment"),
)
"""The search attributes of each run as rows a query can search by index: one row per
value (a keyword list has one per element, ``position`` its place), in the column of
its type (Keyword and KeywordList in ``keyword``, Text in ``text``, Int in ``integer``,
Double in ``real``, Bool in ``flag``, Datetime in ``moment``). ``turnout_runs.search_attributes``
keeps the same values as the run shows them."""

_ACTIVE_SCHEDULE = text("NOT paused")

schedules = Table(
    f"{PREFIX}schedules",
    metadata,
    _tenant(),
    Column("schedule_id", String(255), nullable=False),
    Column("schedule", JSONType, nullable=False),
    Column("paused", Boolean, nullable=False, server_default=false()),
    Column("due_at", UTCDateTime()),
    Column("processed_until", UTCDateTime(), nullable=False),
    Column("info", JSONType, nullable=False),
    Column("memo", JSONType),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("tenant_id", "schedule_id"),
    # What the scheduler looks at: the active schedules that are due.
    Index(
        "ix_turnout_schedules_due",
        "due_at",
        postgresql_where=_ACTIVE_SCHEDULE,
        sqlite_where=_ACTIVE_SCHEDULE,
    ),
)
"""Each schedule (``schedule``: its action, spec, policy and state as JSON), when the
scheduler must look at it next (``due_at``: its next fire, sooner while a start waits in
its buffer; null: never again), the last fire time it has acted on (``processed_until``),
and what it has done (``info``: counts, recent and running actions, buffered fires)."""

workers = Table(
    f"{PREFIX}workers",
    metadata,
    Column("identity", String(255), primary_key=True),
    _tenant(),
    Column("task_queue", String(255), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("workflow_types", JSONType, nullable=False),
    Column("activity_types", JSONType, nullable=False),
    Column("max_workflow_tasks", Integer, nullable=False),
    Column("max_activities", Integer, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Index(None, "tenant_id", "task_queue"),
)
"""Each running worker: its queue, host, process, the types it runs and its slots; its
heartbeat moves ``last_seen_at`` every few seconds, and it leaves on shutdown (a worker
that died is seen as gone once its ``last_seen_at`` is old, and pruned later)."""
