"""Baseline: every table, constraint and index of the internal store.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-11-23

A frozen snapshot of turnout.executors.internal.schema at this revision: later
changes to the schema go into new revisions, never here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_baseline"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)

RUN_STATES = (
    "canceled",
    "claimed",
    "completed",
    "continued_as_new",
    "failed",
    "queued",
    "running",
    "terminated",
    "timed_out",
    "waiting_approval",
)
TERMINAL_RUN_STATES = (
    "canceled",
    "completed",
    "continued_as_new",
    "failed",
    "terminated",
    "timed_out",
)
ACTIVE_RUN_STATES = ("claimed", "queued", "running", "waiting_approval")
EVENT_TYPES = (
    "activity_cancel_requested",
    "activity_canceled",
    "activity_completed",
    "activity_failed",
    "activity_scheduled",
    "activity_started",
    "activity_timed_out",
    "approval_decided",
    "approval_requested",
    "artifact_recorded",
    "child_workflow_canceled",
    "child_workflow_completed",
    "child_workflow_failed",
    "child_workflow_started",
    "child_workflow_terminated",
    "child_workflow_timed_out",
    "dead_lettered",
    "lease_expired",
    "marker_recorded",
    "policy_decided",
    "retry_scheduled",
    "signal_received",
    "state_changed",
    "timer_canceled",
    "timer_fired",
    "timer_started",
    "workflow_cancel_requested",
    "workflow_canceled",
    "workflow_completed",
    "workflow_continued_as_new",
    "workflow_failed",
    "workflow_started",
    "workflow_task_completed",
    "workflow_task_failed",
    "workflow_terminated",
    "workflow_timed_out",
)
QUEUE_ITEM_KINDS = ("activity_task", "timer", "workflow_task")
QUEUE_ITEM_STATES = ("canceled", "claimed", "completed", "dead", "failed", "queued", "running")
LEASED_STATES = ("claimed", "running")
DECISION_OUTCOMES = ("allow", "approved", "deny", "rejected", "require_approval", "timed_out")

READY = "state = 'queued'"
PENDING_WORKFLOW_TASK = "kind = 'workflow_task' AND state = 'queued'"


def _in(column: str, values: Sequence[str]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(128), server_default="default", nullable=False)


def _partial(where: str) -> dict[str, Any]:
    """The keywords of a partial index on both dialects."""
    return {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}


def upgrade() -> None:
    op.create_table(
        "turnout_artifacts",
        sa.Column("artifact_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        _tenant(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("digest", sa.String(255), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        sa.PrimaryKeyConstraint("artifact_id", name=op.f("pk_turnout_artifacts")),
    )
    op.create_index(
        op.f("ix_turnout_artifacts_tenant_id_run_id"), "turnout_artifacts", ["tenant_id", "run_id"]
    )

    op.create_table(
        "turnout_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        _tenant(),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_turnout_events")),
        sa.CheckConstraint(_in("type", EVENT_TYPES), name=op.f("ck_turnout_events_type")),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_turnout_events_seq")),
        sa.UniqueConstraint("run_id", "seq", name=op.f("uq_turnout_events_run_id_seq")),
    )

    op.create_table(
        "turnout_policy_decisions",
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        _tenant(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("decided_by", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_at", TIMESTAMP, nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_turnout_policy_decisions")),
        sa.CheckConstraint(
            _in("outcome", DECISION_OUTCOMES), name=op.f("ck_turnout_policy_decisions_outcome")
        ),
    )
    op.create_index(
        op.f("ix_turnout_policy_decisions_tenant_id_run_id"),
        "turnout_policy_decisions",
        ["tenant_id", "run_id"],
    )

    op.create_table(
        "turnout_queue_items",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _tenant(),
        sa.Column("task_queue", sa.String(255), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("ref", sa.String(64), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("attempt", sa.Integer(), server_default="1", nullable=False),
        sa.Column("available_at", TIMESTAMP, nullable=False),
        sa.Column("deadline_at", TIMESTAMP, nullable=True),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        sa.Column("lease_expires_at", TIMESTAMP, nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("heartbeat_at", TIMESTAMP, nullable=True),
        sa.Column("heartbeat_details", JSON, nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("last_failure", JSON, nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_turnout_queue_items")),
        sa.CheckConstraint(_in("kind", QUEUE_ITEM_KINDS), name=op.f("ck_turnout_queue_items_kind")),
        sa.CheckConstraint(
            _in("state", QUEUE_ITEM_STATES), name=op.f("ck_turnout_queue_items_state")
        ),
        sa.CheckConstraint(
            f"({_in('state', LEASED_STATES)})"
            " = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)",
            name=op.f("ck_turnout_queue_items_lease"),
        ),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_turnout_queue_items_idempotency_key")),
    )
    op.create_index(
        op.f("ix_turnout_queue_items_leased"),
        "turnout_queue_items",
        ["lease_expires_at"],
        **_partial(_in("state", LEASED_STATES)),
    )
    op.create_index(
        op.f("ix_turnout_queue_items_pending_wft"),
        "turnout_queue_items",
        ["run_id"],
        unique=True,
        **_partial(PENDING_WORKFLOW_TASK),
    )
    op.create_index(
        op.f("ix_turnout_queue_items_ready"),
        "turnout_queue_items",
        ["task_queue", "priority", "available_at"],
        **_partial(READY),
    )
    op.create_index(
        op.f("ix_turnout_queue_items_run_id_kind"), "turnout_queue_items", ["run_id", "kind"]
    )

    op.create_table(
        "turnout_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=False),
        _tenant(),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("workflow_type", sa.String(255), nullable=False),
        sa.Column("task_queue", sa.String(255), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer(), server_default="1", nullable=False),
        sa.Column("input", JSON, nullable=False),
        sa.Column("result", JSON, nullable=True),
        sa.Column("failure", JSON, nullable=True),
        sa.Column("requested_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("execution_deadline", TIMESTAMP, nullable=True),
        sa.Column("parent_workflow_id", sa.String(255), nullable=True),
        sa.Column("parent_run_id", sa.String(64), nullable=True),
        sa.Column("parent_ref", sa.String(64), nullable=True),
        sa.Column("continued_from_run_id", sa.String(64), nullable=True),
        sa.Column("next_seq", sa.Integer(), server_default="1", nullable=False),
        sa.Column("workflow_task_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("options", JSON, nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_turnout_runs")),
        sa.CheckConstraint(_in("state", RUN_STATES), name=op.f("ck_turnout_runs_state")),
        sa.CheckConstraint(
            f"({_in('state', TERMINAL_RUN_STATES)}) = (closed_at IS NOT NULL)",
            name=op.f("ck_turnout_runs_closed_at"),
        ),
    )
    op.create_index(op.f("ix_turnout_runs_parent_run_id"), "turnout_runs", ["parent_run_id"])
    op.create_index(
        op.f("ix_turnout_runs_tenant_id_state_workflow_type"),
        "turnout_runs",
        ["tenant_id", "state", "workflow_type"],
    )
    # One open run per workflow id and tenant.
    op.create_index(
        op.f("ix_turnout_runs_tenant_id_workflow_id"),
        "turnout_runs",
        ["tenant_id", "workflow_id"],
        unique=True,
        **_partial(_in("state", ACTIVE_RUN_STATES)),
    )
    op.create_index(
        op.f("ix_turnout_runs_tenant_id_workflow_id_requested_at"),
        "turnout_runs",
        ["tenant_id", "workflow_id", "requested_at"],
    )

    op.create_table(
        "turnout_tasks",
        sa.Column("task_id", sa.String(64), nullable=False),
        _tenant(),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("workflow_type", sa.String(255), nullable=False),
        sa.Column("task_queue", sa.String(255), nullable=False),
        sa.Column("input", JSON, nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("requested_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_turnout_tasks")),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name=op.f("uq_turnout_tasks_tenant_id_idempotency_key")
        ),
    )
    op.create_index(
        op.f("ix_turnout_tasks_tenant_id_workflow_id"),
        "turnout_tasks",
        ["tenant_id", "workflow_id"],
    )


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints with it.
    for table in (
        "turnout_tasks",
        "turnout_runs",
        "turnout_queue_items",
        "turnout_policy_decisions",
        "turnout_events",
        "turnout_artifacts",
    ):
        op.drop_table(table)
