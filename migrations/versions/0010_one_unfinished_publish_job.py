"""One retroactive publish job queued or running at a time: 0009's unique index on the status let one queued
job and one running job coexist (a race on SQLite, which has no publishing lock). Every unfinished row now has
the same key.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFINISHED = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    op.drop_index("ux_ruleset_publish_jobs_unfinished", table_name="ruleset_publish_jobs")
    op.create_index(
        "ux_ruleset_publish_jobs_one_unfinished",
        "ruleset_publish_jobs",
        [sa.text("(status IN ('queued', 'running'))")],
        unique=True,
        postgresql_where=UNFINISHED,
        sqlite_where=UNFINISHED,
    )


def downgrade() -> None:
    op.drop_index("ux_ruleset_publish_jobs_one_unfinished", table_name="ruleset_publish_jobs")
    op.create_index(
        "ux_ruleset_publish_jobs_unfinished",
        "ruleset_publish_jobs",
        ["status"],
        unique=True,
        postgresql_where=UNFINISHED,
        sqlite_where=UNFINISHED,
    )
