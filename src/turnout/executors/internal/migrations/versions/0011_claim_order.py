"""Claim order, and fewer index entries per queue-item write.

Revision ID: 0011_claim_order
Revises: 0010_sticky_workers
Create Date: 2026-12-07

- ``ix_turnout_queue_items_ready`` becomes ``(task_queue, kind, priority DESC,
  available_at, id)`` over the queued items: the order a claim takes them in, so that a
  claim reads the rows it takes instead of sorting the queue's whole backlog.
- The new partial index ``ix_turnout_queue_items_running_wft`` (``run_id`` of the leased
  workflow tasks) answers a claim's "does this run have a task running?".
- The uniqueness of ``idempotency_key`` becomes a partial unique index over the items that
  have a key: an item without one (all of them so far) no longer adds an index entry at
  each of its writes. SQLite cannot drop a table's UNIQUE constraint: the table is rebuilt,
  its rows kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011_claim_order"
down_revision: str | Sequence[str] | None = "0010_sticky_workers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "turnout_queue_items"
READY = "state = 'queued'"
RUNNING_WORKFLOW_TASK = "kind = 'workflow_task' AND state IN ('claimed', 'running')"
KEYED = "idempotency_key IS NOT NULL"
UNIQUE_KEY = "uq_turnout_queue_items_idempotency_key"

COLUMNS = (
    "id, kind, state, tenant_id, task_queue, run_id, workflow_id, name, ref, payload, "
    "priority, attempt, available_at, deadline_at, lease_owner, lease_expires_at, "
    "started_at, heartbeat_at, heartbeat_details, cancel_requested, last_failure, "
    "idempotency_key, created_at, updated_at, sticky_worker"
)
SQLITE_TABLE = """CREATE TABLE turnout_queue_items (
    id INTEGER NOT NULL,
    kind VARCHAR(32) NOT NULL,
    state VARCHAR(16) NOT NULL,
    tenant_id VARCHAR(128) DEFAULT 'default' NOT NULL,
    task_queue VARCHAR(255) NOT NULL,
    run_id VARCHAR(64) NOT NULL,
    workflow_id VARCHAR(255) NOT NULL,
    name VARCHAR(255),
    ref VARCHAR(64),
    payload JSON NOT NULL,
    priority INTEGER DEFAULT '0' NOT NULL,
    attempt INTEGER DEFAULT '1' NOT NULL,
    available_at DATETIME NOT NULL,
    deadline_at DATETIME,
    lease_owner VARCHAR(255),
    lease_expires_at DATETIME,
    started_at DATETIME,
    heartbeat_at DATETIME,
    heartbeat_details JSON,
    cancel_requested BOOLEAN DEFAULT 0 NOT NULL,
    last_failure JSON,
    idempotency_key VARCHAR(255),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    sticky_worker VARCHAR(255),
    CONSTRAINT pk_turnout_queue_items PRIMARY KEY (id),
    CONSTRAINT ck_turnout_queue_items_kind CHECK (kind IN ('activity_task', 'timer', 'workflow_task')),
    CONSTRAINT ck_turnout_queue_items_state CHECK (state IN ('canceled', 'claimed', 'completed', 'dead', 'failed', 'queued', 'running')),
    CONSTRAINT ck_turnout_queue_items_lease CHECK ((state IN ('claimed', 'running')) = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)){unique}
)"""  # noqa: E501
SQLITE_UNIQUE = ",\n    CONSTRAINT uq_turnout_queue_items_idempotency_key UNIQUE (idempotency_key)"
SQLITE_INDEXES = {
    "ix_turnout_queue_items_leased": (
        "CREATE INDEX ix_turnout_queue_items_leased ON turnout_queue_items (lease_expires_at) "
        "WHERE state IN ('claimed', 'running')"
    ),
    "ix_turnout_queue_items_pending_wft": (
        "CREATE UNIQUE INDEX ix_turnout_queue_items_pending_wft ON turnout_queue_items (run_id) "
        "WHERE kind = 'workflow_task' AND state = 'queued'"
    ),
    "ix_turnout_queue_items_run_id_kind": (
        "CREATE INDEX ix_turnout_queue_items_run_id_kind ON turnout_queue_items (run_id, kind)"
    ),
}
NEW_INDEXES = {
    "ix_turnout_queue_items_ready": (
        "CREATE INDEX ix_turnout_queue_items_ready ON turnout_queue_items "
        f"(task_queue, kind, priority DESC, available_at, id) WHERE {READY}"
    ),
    "ix_turnout_queue_items_running_wft": (
        "CREATE INDEX ix_turnout_queue_items_running_wft ON turnout_queue_items (run_id) "
        f"WHERE {RUNNING_WORKFLOW_TASK}"
    ),
    UNIQUE_KEY: (
        f"CREATE UNIQUE INDEX {UNIQUE_KEY} ON turnout_queue_items (idempotency_key) WHERE {KEYED}"
    ),
}
OLD_INDEXES = {
    "ix_turnout_queue_items_ready": (
        "CREATE INDEX ix_turnout_queue_items_ready ON turnout_queue_items "
        f"(task_queue, priority, available_at) WHERE {READY}"
    ),
}


def _partial(where: str) -> dict[str, Any]:
    return {"postgresql_where": sa.text(where)}


def _rebuild_on_sqlite(unique: str, indexes: dict[str, str]) -> None:
    """Make the table again from ``SQLITE_TABLE`` (its rows kept), with ``indexes``."""
    op.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_old")
    found = op.get_bind().execute(
        sa.text(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t "
            "AND sql IS NOT NULL"
        ),
        {"t": f"{TABLE}_old"},
    )
    for (name,) in list(found):
        op.execute(f"DROP INDEX {name}")
    op.execute(SQLITE_TABLE.format(unique=unique))
    op.execute(f"INSERT INTO {TABLE} ({COLUMNS}) SELECT {COLUMNS} FROM {TABLE}_old")
    op.execute(f"DROP TABLE {TABLE}_old")
    for sql in sorted(indexes.values()):
        op.execute(sql)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite("", {**SQLITE_INDEXES, **NEW_INDEXES})
        return
    op.drop_index("ix_turnout_queue_items_ready", table_name=TABLE)
    op.create_index(
        "ix_turnout_queue_items_ready",
        TABLE,
        ["task_queue", "kind", sa.text("priority DESC"), "available_at", "id"],
        **_partial(READY),
    )
    op.create_index(
        "ix_turnout_queue_items_running_wft", TABLE, ["run_id"], **_partial(RUNNING_WORKFLOW_TASK)
    )
    op.drop_constraint(UNIQUE_KEY, TABLE, type_="unique")
    op.create_index(UNIQUE_KEY, TABLE, ["idempotency_key"], unique=True, **_partial(KEYED))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite(SQLITE_UNIQUE, {**SQLITE_INDEXES, **OLD_INDEXES})
        return
    op.drop_index(UNIQUE_KEY, table_name=TABLE)
    op.create_unique_constraint(UNIQUE_KEY, TABLE, ["idempotency_key"])
    op.drop_index("ix_turnout_queue_items_running_wft", table_name=TABLE)
    op.drop_index("ix_turnout_queue_items_ready", table_name=TABLE)
    op.create_index(
        "ix_turnout_queue_items_ready",
        TABLE,
        ["task_queue", "priority", "available_at"],
        **_partial(READY),
    )
