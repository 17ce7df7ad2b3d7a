"""Approvals: the human decisions a run waits on.

Revision ID: 0002_approvals
Revises: 0001_baseline
Create Date: 2026-11-24

A frozen snapshot of the ``turnout_approvals`` table at this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_approvals"
down_revision: str | Sequence[str] | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
PENDING = "state = 'pending'"


def upgrade() -> None:
    op.create_table(
        "turnout_approvals",
        sa.Column("approval_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("tenant_id", sa.String(128), server_default="default", nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("requested_at", TIMESTAMP, nullable=False),
        sa.Column("timeout_at", TIMESTAMP, nullable=True),
        sa.Column("decided_at", TIMESTAMP, nullable=True),
        sa.Column("decided_by", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('approved', 'pending', 'rejected', 'timed_out')",
            name=op.f("ck_turnout_approvals_state"),
        ),
        sa.CheckConstraint(
            "(state = 'pending') = (decided_at IS NULL)",
            name=op.f("ck_turnout_approvals_decided_at"),
        ),
        sa.PrimaryKeyConstraint("approval_id", name=op.f("pk_turnout_approvals")),
    )
    op.create_index(
        op.f("ix_turnout_approvals_run_id_name"),
        "turnout_approvals",
        ["run_id", "name"],
        unique=True,
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )
    op.create_index(
        "ix_turnout_approvals_pending",
        "turnout_approvals",
        ["tenant_id", "requested_at"],
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_table("turnout_approvals")
