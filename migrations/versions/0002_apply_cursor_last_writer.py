"""Apply cursor remembers who advanced it last, so an applier can keep its state between batches.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 02:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("apply_cursor") as batch_op:
        batch_op.add_column(sa.Column("last_writer", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apply_cursor") as batch_op:
        batch_op.drop_column("last_writer")
