"""Indexes on the event log's time, for the console's dashboard (by type and date range) and rules preview.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 05:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch_op:
        batch_op.create_index("ix_events_type_time", ["type", "time"], unique=False)
        batch_op.create_index("ix_events_time", ["time"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events") as batch_op:
        batch_op.drop_index("ix_events_time")
        batch_op.drop_index("ix_events_type_time")
