"""Contributions: what experts report that the forum cannot see (a workshop they ran, feedback on a beta), and a
manager's decision on it. An approval is also a `contribution.approved` event, whose (source, id) the row keeps.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contributions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("details", sa.String(length=2000), nullable=True),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_by", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.String(length=500), nullable=True),
        sa.Column("event_source", sa.String(length=500), nullable=True),
        sa.Column("event_id", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contributions")),
    )
    op.create_index("ix_contributions_status_reported_at", "contributions", ["status", "reported_at"])
    op.create_index("ix_contributions_user_id_reported_at", "contributions", ["user_id", "reported_at"])


def downgrade() -> None:
    op.drop_index("ix_contributions_user_id_reported_at", table_name="contributions")
    op.drop_index("ix_contributions_status_reported_at", table_name="contributions")
    op.drop_table("contributions")
