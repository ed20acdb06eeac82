"""Counters, streaks, badge awards, perk grants, code pools and seat settings, the audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 04:12:28.253725
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_action", ["action"], unique=False)
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_log_user_id", ["user_id"], unique=False)

    op.create_table(
        "badge_awards",
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("badge_id", sa.String(length=64), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("post", sa.String(length=300), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=500), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("user_id", "badge_id", "tier", "post", name=op.f("pk_badge_awards")),
    )
    with op.batch_alter_table("badge_awards", schema=None) as batch_op:
        batch_op.create_index(
            "ix_badge_awards_held",
            ["badge_id", "tier"],
            unique=False,
            postgresql_where=sa.text("revoked_at IS NULL"),
            sqlite_where=sa.text("revoked_at IS NULL"),
        )

    op.create_table(
        "counters",
        sa.Column("owner", sa.String(length=300), nullable=False),
        sa.Column("counter_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("owner", "counter_id", "scope", name=op.f("pk_counters")),
    )
    op.create_table(
        "perk_codes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("perk_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grant_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_perk_codes")),
        sa.UniqueConstraint("perk_id", "code", name=op.f("uq_perk_codes_perk_id")),
    )
    with op.batch_alter_table("perk_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_perk_codes_free", ["perk_id", "id"], unique=False, postgresql_where=sa.text("grant_id IS NULL")
        )

    op.create_table(
        "perk_grants",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("perk_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("respond_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=500), nullable=True),
        sa.Column("code", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_perk_grants")),
    )
    with op.batch_alter_table("perk_grants", schema=None) as batch_op:
        batch_op.create_index("ix_perk_grants_perk_id_status", ["perk_id", "status"], unique=False)
        batch_op.create_index("ix_perk_grants_user_id", ["user_id"], unique=False)
        batch_op.create_index(
            "uq_perk_grants_open",
            ["perk_id", "user_id"],
            unique=True,
            postgresql_where=sa.text("status IN ('waitlisted', 'pending_approval', 'offered', 'active')"),
            sqlite_where=sa.text("status IN ('waitlisted', 'pending_approval', 'offered', 'active')"),
        )

    op.create_table(
        "perk_settings",
        sa.Column("perk_id", sa.String(length=64), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("perk_id", name=op.f("pk_perk_settings")),
    )
    op.create_table(
        "streaks",
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("counter_id", sa.String(length=64), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("best", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "counter_id", name=op.f("pk_streaks")),
    )
    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("counts", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.drop_column("counts")

    op.drop_table("streaks")
    op.drop_table("perk_settings")
    with op.batch_alter_table("perk_grants", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_perk_grants_open",
            postgresql_where=sa.text("status IN ('waitlisted', 'pending_approval', 'offered', 'active')"),
            sqlite_where=sa.text("status IN ('waitlisted', 'pending_approval', 'offered', 'active')"),
        )
        batch_op.drop_index("ix_perk_grants_user_id")
        batch_op.drop_index("ix_perk_grants_perk_id_status")

    op.drop_table("perk_grants")
    with op.batch_alter_table("perk_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_perk_codes_free", postgresql_where=sa.text("grant_id IS NULL"))

    op.drop_table("perk_codes")
    op.drop_table("counters")
    with op.batch_alter_table("badge_awards", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_badge_awards_held",
            postgresql_where=sa.text("revoked_at IS NULL"),
            sqlite_where=sa.text("revoked_at IS NULL"),
        )

    op.drop_table("badge_awards")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_user_id")
        batch_op.drop_index("ix_audit_log_at")
        batch_op.drop_index("ix_audit_log_action")

    op.drop_table("audit_log")
