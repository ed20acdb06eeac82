"""Session generations: ending a member's browser sessions on the server (sign-out, a manager's "sign out").
A session cookie carries its member's generation and is refused once the row has moved on.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_generations",
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_session_generations")),
    )


def downgrade() -> None:
    op.drop_table("session_generations")
