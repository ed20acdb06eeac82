"""A user is created the first time an event names them; a member profile (how they are shown) when the forum says."""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rewards.models_base import Base, UTCDateTime


class UserRow(Base):
    __tablename__ = "users"

    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    reputation: Mapped[int] = mapped_column(Integer, default=0)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    suspended_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last event that changed this user: a cheap version for caches and ETags.
    updated_seq: Mapped[int] = mapped_column(BigInteger, default=0)


# Every column, in the order the engine's user state and the read endpoints' view take them.
USER_COLUMNS = (
    UserRow.user_id,
    UserRow.reputation,
    UserRow.suspended,
    UserRow.suspended_until,
    UserRow.first_seen_at,
    UserRow.last_active_at,
    UserRow.updated_seq,
)


class MemberProfileRow(Base):
    """How a member is shown: from what the forum sends (rewards.users.profiles), never from the apply pipeline.
    A profile may exist before any event names the member (a sign-in, an API call)."""

    __tablename__ = "member_profiles"

    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    username: Mapped[str | None] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(200))
    avatar_url: Mapped[str | None] = mapped_column(String(2000))
    profile_url: Mapped[str | None] = mapped_column(String(2000))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(35))
    source: Mapped[str] = mapped_column(String(500))
    # Bumped by every change: a part of the validators of the encoded-once answers that show the member.
    version: Mapped[int] = mapped_column(BigInteger, default=1, server_default="1")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    search_key: Mapped[str] = mapped_column(String(401), default="", server_default="")

    __table_args__ = (Index("ix_member_profiles_search_key", "search_key"),)


# What the read paths show of a profile, in the order `rewards.users.repository.ProfileView` takes them.
PROFILE_COLUMNS = (
    MemberProfileRow.user_id,
    MemberProfileRow.username,
    MemberProfileRow.display_name,
    MemberProfileRow.avatar_url,
    MemberProfileRow.profile_url,
    MemberProfileRow.time_zone,
    MemberProfileRow.locale,
    MemberProfileRow.source,
    MemberProfileRow.version,
    MemberProfileRow.updated_at,
)
