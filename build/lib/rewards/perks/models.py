"""Perk grants (one row per user and attempt, through its whole lifecycle), code pools, seat settings."""

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from rewards.models_base import Base, BigIntId, UTCDateTime

OPEN_STATUSES = ("waitlisted", "pending_approval", "offered", "active")
_OPEN_SQL = "status IN ('waitlisted', 'pending_approval', 'offered', 'active')"


class PerkGrantRow(Base):
    __tablename__ = "perk_grants"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    perk_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    # When the user became eligible and asked for a seat: the waitlist's order (then the id).
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    respond_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(500))
    code: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))  # rule (eligibility), manual, board
    decided_by: Mapped[str | None] = mapped_column(String(200))  # who approved, denied, granted or revoked
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        # One open grant per user and perk; closed ones stay as history.
        Index(
            "uq_perk_grants_open",
            "perk_id",
            "user_id",
            unique=True,
            postgresql_where=text(_OPEN_SQL),
            sqlite_where=text(_OPEN_SQL),
        ),
        Index("ix_perk_grants_user_id", "user_id"),
        Index("ix_perk_grants_perk_id_status", "perk_id", "status"),
    )


class PerkCodeRow(Base):
    """A beta code in a perk's pool; `grant_id` is set when it is handed out."""

    __tablename__ = "perk_codes"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    perk_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    grant_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("perk_id", "code"),
        Index("ix_perk_codes_free", "perk_id", "id", postgresql_where=text("grant_id IS NULL")),
    )


class PerkSettingRow(Base):
    """Per-perk state managers change at run time (seats), and the row seat allocation locks."""

    __tablename__ = "perk_settings"

    perk_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seats: Mapped[int | None] = mapped_column(Integer)  # overrides the rules file's `seats` when set
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
