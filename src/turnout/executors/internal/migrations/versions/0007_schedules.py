"""Schedules: each schedule, when it is due, and what it has done.

Revision ID: 0007_schedules
Revises: 0006_search_attributes
Create Date: 2026-12-08

Adds the table ``turnout_schedules`` (the schedule as JSON, ``due_at`` and the fire time
acted on last, ``info``) and its partial index on ``due_at`` for active schedules.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_schedules"
down_revision: str | Sequence[str] | None = "0006_search_attributes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "turnout_schedules",
        sa.Column("tenant_id", sa.String(128), server_default="default", nullable=False),
        sa.Column("schedule_id", sa.String(255), nullable=False),
        sa.Column("schedule", JSON, nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=True),
        sa.Column("processed_until", TIMESTAMP, nullable=False),
        sa.Column("info", JSON, nullable=False),
        sa.Column("memo", JSON, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "schedule_id", name=op.f("pk_turnout_schedules")),
    )
    op.create_index(
        "ix_turnout_schedules_due",
        "turnout_schedules",
        ["due_at"],
        postgresql_where=sa.text("NOT paused"),
        sqlite_where=sa.text("NOT paused"),
    )


def downgrade() -> None:
    op.drop_index("ix_turnout_schedules_due", table_name="turnout_schedules")
    op.drop_table("turnout_schedules")
