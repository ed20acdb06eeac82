"""Leaderboard deltas: applied batches append what they add to the scores; a fold moves them into the scores
off the apply transaction (PostgreSQL; SQLite keeps adding to the scores directly).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 07:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leaderboard_deltas",
        sa.Column("board", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leaderboard_deltas")
