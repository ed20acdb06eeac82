"""Badge credentials (Open Badges 3.0): one row per credential signed for a badge award, whose integer id is its
place in the revocation status list. Badge awards have no integer id of their own (their key is user, badge,
tier and post), and a status list index must never move, so the index is kept here.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "badge_credentials",
        sa.Column(
            "status_index", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("credential_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("badge_id", sa.String(length=64), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("post", sa.String(length=300), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("status_index", name=op.f("pk_badge_credentials")),
        sa.UniqueConstraint("credential_id", name="uq_badge_credentials_credential_id"),
        sa.UniqueConstraint("user_id", "badge_id", "tier", "post", "granted_at", name="uq_badge_credentials_award"),
    )


def downgrade() -> None:
    op.drop_table("badge_credentials")
