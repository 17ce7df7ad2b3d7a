"""Sticky workers: the worker a run's next workflow task goes to first.

Revision ID: 0010_sticky_workers
Revises: 0009_request_headers
Create Date: 2026-12-07

Adds the nullable column ``sticky_worker`` to ``turnout_runs`` (the worker that committed
the run's last workflow task) and to ``turnout_queue_items`` (a queued workflow task is
offered to that worker first, as a Temporal sticky queue).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_sticky_workers"
down_revision: str | Sequence[str] | None = "0009_request_headers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("turnout_runs", "turnout_queue_items"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("sticky_worker", sa.String(255), nullable=True))


def downgrade() -> None:
    for table in ("turnout_runs", "turnout_queue_items"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("sticky_worker")
