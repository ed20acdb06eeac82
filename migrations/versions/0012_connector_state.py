"""Connector state: each connector stream's watermark (what it has read up to), its last error, and a lease so
that one process at a time reads a window (Khoros asks for one Bulk Data request at a time).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connector_state",
        sa.Column("connector", sa.String(length=200), nullable=False),
        sa.Column("stream", sa.String(length=50), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("events_accepted", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("lease_holder", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("connector", "stream", name=op.f("pk_connector_state")),
    )


def downgrade() -> None:
    op.drop_table("connector_state")
