"""Badge awards: one row per user, badge, tier and post ("" when the badge is not about a post)."""

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from rewards.models_base import Base, UTCDateTime


class BadgeAwardRow(Base):
    __tablename__ = "badge_awards"

    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    badge_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tier: Mapped[str] = mapped_column(String(16), primary_key=True)
    post: Mapped[str] = mapped_column(String(300), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_seq: Mapped[int] = mapped_column(BigInteger)  # 0 for grants by hand
    source: Mapped[str] = mapped_column(String(16))  # rule, manual, board
    reason: Mapped[str] = mapped_column(String(500))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(500))
    revoked_by: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index(
            "ix_badge_awards_held",
            "badge_id",
            "tier",
            postgresql_where=text("revoked_at IS NULL"),
            sqlite_where=text("revoked_at IS NULL"),
        ),
    )
