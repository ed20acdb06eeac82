"""Ruleset versions and the apply lock (one row: whoever holds it applies the event log)."""

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rewards.models_base import Base, BigIntId, UTCDateTime


class RulesetVersionRow(Base):
    __tablename__ = "ruleset_versions"

    version: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApplyLockRow(Base):
    __tablename__ = "apply_lock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str | None] = mapped_column(String(200))
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
