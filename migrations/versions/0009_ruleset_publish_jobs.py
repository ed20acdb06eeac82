"""Retroactive publications run in the background: one row per request, with its state and progress.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ruleset_publish_jobs",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("events_total", sa.BigInteger(), nullable=True),
        sa.Column("events_done", sa.BigInteger(), nullable=True),
        sa.Column("replayed_events", sa.BigInteger(), nullable=True),
        sa.Column("failed_events", sa.BigInteger(), nullable=True),
        sa.Column("publication_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["version"],
            ["ruleset_versions.version"],
            name=op.f("fk_ruleset_publish_jobs_version_ruleset_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["ruleset_publications.id"],
            name=op.f("fk_ruleset_publish_jobs_publication_id_ruleset_publications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ruleset_publish_jobs")),
    )
    op.create_index("ix_ruleset_publish_jobs_status_id", "ruleset_publish_jobs", ["status", "id"])
    unfinished = sa.text("status IN ('queued', 'running')")
    op.create_index(
        "ux_ruleset_publish_jobs_unfinished",
        "ruleset_publish_jobs",
        ["status"],
        unique=True,
        postgresql_where=unfinished,
        sqlite_where=unfinished,
    )


def downgrade() -> None:
    op.drop_index("ux_ruleset_publish_jobs_unfinished", table_name="ruleset_publish_jobs")
    op.drop_index("ix_ruleset_publish_jobs_status_id", table_name="ruleset_publish_jobs")
    op.drop_table("ruleset_publish_jobs")
