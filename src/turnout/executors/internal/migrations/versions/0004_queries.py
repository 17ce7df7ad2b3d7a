"""Queries answered by workers: the requests clients store for a task queue's workers.

Revision ID: 0004_queries
Revises: 0003_updates
Create Date: 2026-12-06

Adds the ``turnout_queries`` table: a query request addressed to the task queue of the
run it asks, claimed by a worker of that queue, answered, and deleted by its caller (or,
once expired, by a worker's sweep). A frozen snapshot of the table at this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_queries"
down_revision: str | Sequence[str] | None = "0003_updates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
REQUESTED = "state = 'requested'"


def upgrade() -> None:
    op.create_table(
        "turnout_queries",
        sa.Column("query_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(128), server_default="default", nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("workflow_type", sa.String(255), nullable=False),
        sa.Column("task_queue", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("args", JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("result", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(255), nullable=True),
        sa.Column("requested_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "state IN ('answered', 'claimed', 'requested')",
            name=op.f("ck_turnout_queries_state"),
        ),
        sa.PrimaryKeyConstraint("query_id", name=op.f("pk_turnout_queries")),
    )
    op.create_index(
        "ix_turnout_queries_requested",
        "turnout_queries",
        ["task_queue", "requested_at"],
        postgresql_where=sa.text(REQUESTED),
        sqlite_where=sa.text(REQUESTED),
    )
    op.create_index("ix_turnout_queries_expires_at", "turnout_queries", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_turnout_queries_expires_at", table_name="turnout_queries")
    op.drop_index("ix_turnout_queries_requested", table_name="turnout_queries")
    op.drop_table("turnout_queries")
