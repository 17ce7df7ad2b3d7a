"""Request headers: the payloads a client's interceptors set on a query or an update.

Revision ID: 0009_request_headers
Revises: 0008_workers
Create Date: 2026-12-09

Adds the nullable column ``header`` to ``turnout_updates`` and ``turnout_queries``; the
worker hands it to the workflow's inbound interceptors (``handle_query``,
``handle_update_validator``, ``handle_update_handler``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_request_headers"
down_revision: str | Sequence[str] | None = "0008_workers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    for table in ("turnout_updates", "turnout_queries"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("header", JSON, nullable=True))


def downgrade() -> None:
    for table in ("turnout_updates", "turnout_queries"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("header")
