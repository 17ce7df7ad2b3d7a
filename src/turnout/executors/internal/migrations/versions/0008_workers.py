"""Workers: each running worker, its queue, the types it runs and when it was last seen.

Revision ID: 0008_workers
Revises: 0007_schedules
Create Date: 2026-12-08

Adds the table ``turnout_workers``, which ``turnout workers``, ``turnout status`` and
``describe()``'s "why it does not move" read.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_workers"
down_revision: str | Sequence[str] | None = "0007_schedules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "turnout_workers",
        sa.Column("identity", sa.String(255), nullable=False),
        sa.Column("tenant_id", sa.String(128), server_default="default", nullable=False),
        sa.Column("task_queue", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("workflow_types", JSON, nullable=False),
        sa.Column("activity_types", JSON, nullable=False),
        sa.Column("max_workflow_tasks", sa.Integer(), nullable=False),
        sa.Column("max_activities", sa.Integer(), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("identity", name=op.f("pk_turnout_workers")),
    )
    op.create_index(
        op.f("ix_turnout_workers_tenant_id_task_queue"),
        "turnout_workers",
        ["tenant_id", "task_queue"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_turnout_workers_tenant_id_task_queue"), table_name="turnout_workers")
    op.drop_table("turnout_workers")
