"""Badge credentials: one row per Open Badges 3.0 credential the engine has signed for a badge award.

The row's `status_index` is the credential's place in the revocation status list; `granted_at` is the grant it
attests, so a badge revoked and granted again gets a new credential while the old one stays revoked.
"""

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rewards.models_base import Base, BigIntId, UTCDateTime


class BadgeCredentialRow(Base):
    __tablename__ = "badge_credentials"

    status_index: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    credential_id: Mapped[str] = mapped_column(String(36))  # a UUID: the public verification page's address
    user_id: Mapped[str] = mapped_column(String(200))
    badge_id: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(16))
    post: Mapped[str] = mapped_column(String(300))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("credential_id", name="uq_badge_credentials_credential_id"),
        UniqueConstraint("user_id", "badge_id", "tier", "post", "granted_at", name="uq_badge_credentials_award"),
    )
