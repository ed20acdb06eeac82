"""Member profiles: a display name, an avatar, a profile link (and the time zone and locale an SSO token gives)
per member, from what the forum already sends. Kept beside `users`, not in it: a profile may come before any
event names the member (a sign-in, an API call), and the apply pipeline never writes it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_profiles",
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("avatar_url", sa.String(length=2000), nullable=True),
        sa.Column("profile_url", sa.String(length=2000), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("locale", sa.String(length=35), nullable=True),
        # Who wrote it last: `api`, `sso`, or an event source (`discourse:https://forum.example.com`...).
        sa.Column("source", sa.String(length=500), nullable=False),
        # Bumped by every change: part of the validators of the encoded-once answers that show the member.
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="1"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        # The name and the username, case-folded in Python (SQLite's lower() folds ASCII only): the console's search.
        sa.Column("search_key", sa.String(length=401), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_member_profiles")),
    )
    op.create_index(op.f("ix_member_profiles_search_key"), "member_profiles", ["search_key"])


def downgrade() -> None:
    op.drop_index(op.f("ix_member_profiles_search_key"), table_name="member_profiles")
    op.drop_table("member_profiles")
