"""Leaderboards: scores per board, period and user; the sync watermark; closed periods and their winners.

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leaderboard_scores",
        sa.Column("board", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("board", "period", "user_id", name=op.f("pk_leaderboard_scores")),
    )
    op.create_index(
        "ix_leaderboard_scores_order",
        "leaderboard_scores",
        ["board", "period", "score", "reached_at", "user_id"],
    )
    op.create_table(
        "leaderboard_sync",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("applied_through", sa.BigInteger(), nullable=False),
        sa.Column("boards_digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leaderboard_sync")),
    )
    op.create_table(
        "leaderboard_period_closures",
        sa.Column("board", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("board", "period", name=op.f("pk_leaderboard_period_closures")),
    )
    op.create_table(
        "leaderboard_winners",
        sa.Column("board", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("prize", sa.String(length=80), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("board", "period", "user_id", "prize", name=op.f("pk_leaderboard_winners")),
    )


def downgrade() -> None:
    op.drop_table("leaderboard_winners")
    op.drop_table("leaderboard_period_closures")
    op.drop_table("leaderboard_sync")
    op.drop_index("ix_leaderboard_scores_order", table_name="leaderboard_scores")
    op.drop_table("leaderboard_scores")
