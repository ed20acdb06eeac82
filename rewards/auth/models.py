"""API keys, and how often each member's browser sessions were ended. Only a SHA-256 of a key's secret is
stored; the key itself is shown once, when created."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from rewards.models_base import Base, BigIntId, UTCDateTime


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SessionGenerationRow(Base):
    """A member's session generation: every session cookie carries the generation current when it was opened,
    and is refused once this row says otherwise. Ending a member's sessions (sign-out, a manager's "sign out")
    adds one. No row: generation 0, nothing was ever ended."""

    __tablename__ = "session_generations"

    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
