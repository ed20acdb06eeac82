"""A user is created the first time an event names them."""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String
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
