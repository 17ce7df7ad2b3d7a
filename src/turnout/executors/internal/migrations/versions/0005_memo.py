"""Memo: a run's memo, and the event of its upserts.

Revision ID: 0005_memo
Revises: 0004_queries
Create Date: 2026-12-07

Adds the ``memo`` column of ``turnout_runs`` (the run's memo as JSON, with the upserts
so far) and the event type ``workflow_properties_modified`` (an upsert of the memo,
Temporal's ``WorkflowPropertiesModified``) to the CHECK of ``turnout_events``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_memo"
down_revision: str | Sequence[str] | None = "0004_queries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
NEW_EVENT_TYPES = ("workflow_properties_modified",)
EARLIER_EVENT_TYPES = (
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
    "external_workflow_cancel_requested",
    "external_workflow_signaled",
    "lease_expired",
    "marker_recorded",
    "policy_decided",
    "request_cancel_external_workflow_failed",
    "request_cancel_external_workflow_initiated",
    "retry_scheduled",
    "signal_external_workflow_failed",
    "signal_external_workflow_initiated",
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
    "workflow_update_accepted",
    "workflow_update_completed",
)


def _check_of(types: Sequence[str]) -> str:
    return "type IN ({})".format(", ".join(f"'{t}'" for t in sorted(types)))


def _event_types(types: Sequence[str]) -> None:
    """Make the CHECK of ``turnout_events.type`` allow exactly ``types``."""
    if op.get_context().dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_turnout_events_type"), "turnout_events", type_="check")
        op.create_check_constraint(
            op.f("ck_turnout_events_type"), "turnout_events", _check_of(types)
        )
        return
    # SQLite keeps a CHECK in the table's definition: the table is made again with the
    # new one and its rows copied over (the same column order).
    op.rename_table("turnout_events", "turnout_events_before_0005")
    op.create_table(
        "turnout_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(128), server_default="default", nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_turnout_events")),
        sa.CheckConstraint(_check_of(types), name=op.f("ck_turnout_events_type")),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_turnout_events_seq")),
        sa.UniqueConstraint("run_id", "seq", name=op.f("uq_turnout_events_run_id_seq")),
    )
    op.execute("INSERT INTO turnout_events SELECT * FROM turnout_events_before_0005")
    op.drop_table("turnout_events_before_0005")


def upgrade() -> None:
    op.add_column("turnout_runs", sa.Column("memo", JSON, nullable=True))
    _event_types((*EARLIER_EVENT_TYPES, *NEW_EVENT_TYPES))


def downgrade() -> None:
    _event_types(EARLIER_EVENT_TYPES)
    with op.batch_alter_table("turnout_runs") as batch:
        batch.drop_column("memo")
