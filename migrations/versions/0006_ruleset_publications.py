"""Ruleset publications: which version every process applies, published by whom, when, why and how.

Also merges the three branches (0003, 0004, 0005) that grew from 0002 into one head.

Revision ID: 0006
Revises: 0003, 0004, 0005
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = ("0003", "0004", "0005")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ruleset_publications",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["version"],
            ["ruleset_versions.version"],
            name=op.f("fk_ruleset_publications_version_ruleset_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ruleset_publications")),
    )
    op.create_index("ix_ruleset_publications_via_id", "ruleset_publications", ["via", "id"])


def downgrade() -> None:
    op.drop_index("ix_ruleset_publications_via_id", table_name="ruleset_publications")
    op.drop_table("ruleset_publications")
