"""Search attributes: a run's search attributes, their index rows and their names' types.

Revision ID: 0006_search_attributes
Revises: 0005_memo
Create Date: 2026-12-08

Adds the ``search_attributes`` column of ``turnout_runs`` (as the run shows them), the
tables ``turnout_search_values`` (one row per value, in the column of its type, which
list queries search by index) and ``turnout_search_attribute_names`` (each name's type
in a tenant), and the event type ``upsert_workflow_search_attributes`` (Temporal's
``UpsertWorkflowSearchAttributes``) to the CHECK of ``turnout_events``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0006_search_attributes"
down_revision: str | Sequence[str] | None = "0005_memo"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
TYPES = ("Bool", "Datetime", "Double", "Int", "Keyword", "KeywordList", "Text")


def _memo_revision() -> ModuleType:
    """Revision 0005, whose event types and CHECK rewrite this one extends."""
    path = Path(__file__).with_name("0005_memo.py")
    spec = importlib.util.spec_from_file_location("turnout_migration_0005", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_0005 = _memo_revision()
EARLIER_EVENT_TYPES = (*_0005.EARLIER_EVENT_TYPES, *_0005.NEW_EVENT_TYPES)
NEW_EVENT_TYPES = ("upsert_workflow_search_attributes",)


def upgrade() -> None:
    op.add_column("turnout_runs", sa.Column("search_attributes", _0005.JSON, nullable=True))
    op.create_table(
        "turnout_search_attribute_names",
        sa.Column("tenant_id", sa.String(128), server_default="default", nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.CheckConstraint(
            "type IN ({})".format(", ".join(f"'{t}'" for t in TYPES)),
            name=op.f("ck_turnout_search_attribute_names_type"),
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "name", name=op.f("pk_turnout_search_attribute_names")
        ),
    )
    op.create_table(
        "turnout_search_values",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(128), server_default="default", nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("keyword", sa.String(255), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("integer", sa.BigInteger(), nullable=True),
        sa.Column("real", sa.Float(53), nullable=True),
        sa.Column("flag", sa.Boolean(), nullable=True),
        sa.Column("moment", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint(
            "run_id", "name", "position", name=op.f("pk_turnout_search_values")
        ),
    )
    for column in ("keyword", "integer", "real", "moment"):
        op.create_index(
            op.f(f"ix_turnout_search_values_tenant_id_name_{column}"),
            "turnout_search_values",
            ["tenant_id", "name", column],
        )
    _0005._event_types((*EARLIER_EVENT_TYPES, *NEW_EVENT_TYPES))


def downgrade() -> None:
    _0005._event_types(EARLIER_EVENT_TYPES)
    op.drop_table("turnout_search_values")
    op.drop_table("turnout_search_attribute_names")
    with op.batch_alter_table("turnout_runs") as batch:
        batch.drop_column("search_attributes")
