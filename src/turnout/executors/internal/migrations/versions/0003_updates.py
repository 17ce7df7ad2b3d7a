"""Updates: the requests a workflow validates, accepts or rejects, and answers; and the
events of signals and cancellations one workflow sends another.

Revision ID: 0003_updates
Revises: 0002_approvals
Create Date: 2026-12-06

Adds the ``turnout_updates`` table and the event types of this revision to the CHECK of
``turnout_events``: ``workflow_update_accepted`` and ``workflow_update_completed``, and
those of external workflow handles (``signal_external_workflow_initiated``,
``external_workflow_signaled``, ``signal_external_workflow_failed``,
``request_cancel_external_workflow_initiated``, ``external_workflow_cancel_requested``,
``request_cancel_external_workflow_failed``). A frozen snapshot of both at this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_updates"
down_revision: str | Sequence[str] | None = "0002_approvals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
REQUESTED = "state = 'requested'"
NEW_EVENT_TYPES = (
    "workflow_update_accepted",
    "workflow_update_completed",
    "signal_external_workflow_initiated",
    "external_workflow_signaled",
    "signal_external_workflow_failed",
    "request_cancel_external_workflow_initiated",
    "external_workflow_cancel_requested",
    "request_cancel_external_workflow_failed",
)
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


def _in(column: str, values: Sequence[str]) -> str:
    quoted = ", ".join(f"'{value}'" for value in sorted(values))
    return f"{column} IN ({quoted})"


def _event_types(types: Sequence[str]) -> None:
    if op.get_context().dialect.name == "sqlite":
        # SQLite cannot change a CHECK: the table is made again with the new one, its
        # rows copied over (the same column order), the old one dropped.
        op.rename_table("turnout_events", "turnout_events_before_0003")
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
            sa.CheckConstraint(_in("type", types), name=op.f("ck_turnout_events_type")),
            sa.CheckConstraint("seq >= 1", name=op.f("ck_turnout_events_seq")),
            sa.UniqueConstraint("run_id", "seq", name=op.f("uq_turnout_events_run_id_seq")),
        )
        op.execute("INSERT INTO turnout_events SELECT * FROM turnout_events_before_0003")
        op.drop_table("turnout_events_before_0003")
        return
    op.drop_constraint(op.f("ck_turnout_events_type"), "turnout_events", type_="check")
    op.create_check_constraint(op.f("ck_turnout_events_type"), "turnout_events", _in("type", types))


def upgrade() -> None:
    op.create_table(
        "turnout_updates",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("update_id", sa.String(255), nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("tenant_id", sa.String(128), server_default="default", nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("args", JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("result", JSON, nullable=True),
        sa.Column("failure", JSON, nullable=True),
        sa.Column("requested_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "state IN ('accepted', 'completed', 'rejected', 'requested')",
            name=op.f("ck_turnout_updates_state"),
        ),
        sa.PrimaryKeyConstraint("run_id", "update_id", name=op.f("pk_turnout_updates")),
    )
    op.create_index(
        "ix_turnout_updates_requested",
        "turnout_updates",
        ["run_id", "requested_at"],
        postgresql_where=sa.text(REQUESTED),
        sqlite_where=sa.text(REQUESTED),
    )
    _event_types((*EARLIER_EVENT_TYPES, *NEW_EVENT_TYPES))


def downgrade() -> None:
    _event_types(EARLIER_EVENT_TYPES)
    op.drop_table("turnout_updates")
