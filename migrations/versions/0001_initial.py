"""Event log, apply cursor, event outcomes, ledger, awards, cap buckets, users, API keys, ruleset versions.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 01:55:33.282108
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    apply_cursor = op.create_table(
        "apply_cursor",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("applied_through", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apply_cursor")),
    )
    # The one row an applier locks; `applied_through` is the last event seq applied.
    op.bulk_insert(apply_cursor, [{"id": 1, "applied_through": 0}])
    op.create_table(
        "awards",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("slot", sa.String(length=600), nullable=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("cap_id", sa.String(length=64), nullable=True),
        sa.Column("cap_max", sa.Integer(), nullable=True),
        sa.Column("cap_day", sa.Date(), nullable=True),
        sa.Column("label", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_awards")),
    )
    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.create_index(
            "ix_awards_slot_open",
            ["slot"],
            unique=False,
            postgresql_where=sa.text("status <> 'undone' AND slot IS NOT NULL"),
            sqlite_where=sa.text("status <> 'undone' AND slot IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_awards_subject_open",
            ["subject"],
            unique=False,
            postgresql_where=sa.text("status <> 'undone' AND subject IS NOT NULL"),
            sqlite_where=sa.text("status <> 'undone' AND subject IS NOT NULL"),
        )

    op.create_table(
        "cap_buckets",
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("cap_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("raw", sa.Integer(), nullable=False),
        sa.Column("credited", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "cap_id", "day", name=op.f("pk_cap_buckets")),
    )
    op.create_table(
        "event_outcomes",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ruleset_version", sa.BigInteger(), nullable=False),
        sa.Column("rules_fired", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_event_outcomes")),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sa.UniqueConstraint("source", "event_id", name="uq_events_source_event_id"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("award_id", sa.BigInteger(), nullable=False),
        sa.Column("reverses_id", sa.BigInteger(), nullable=True),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("ruleset_version", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=600), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_user_id_id", ["user_id", "id"], unique=False)

    op.create_table(
        "ruleset_versions",
        sa.Column("version", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_ruleset_versions")),
        sa.UniqueConstraint("digest", name=op.f("uq_ruleset_versions_digest")),
    )
    op.create_table(
        "suspensions",
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("subject", "event_type", name=op.f("pk_suspensions")),
    )
    op.create_table(
        "users",
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("reputation", sa.Integer(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("suspended_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
    )


def downgrade() -> None:
    op.drop_table("users")
    op.drop_table("suspensions")
    op.drop_table("ruleset_versions")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_user_id_id")

    op.drop_table("ledger_entries")
    op.drop_table("events")
    op.drop_table("event_outcomes")
    op.drop_table("cap_buckets")
    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_awards_subject_open",
            postgresql_where=sa.text("status <> 'undone' AND subject IS NOT NULL"),
            sqlite_where=sa.text("status <> 'undone' AND subject IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_awards_slot_open",
            postgresql_where=sa.text("status <> 'undone' AND slot IS NOT NULL"),
            sqlite_where=sa.text("status <> 'undone' AND slot IS NOT NULL"),
        )

    op.drop_table("awards")
    op.drop_table("apply_cursor")
    op.drop_table("api_keys")
