"""Ruleset versions: the exact text of every ruleset events were applied under, and which one is published."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
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


class RulesetPublicationRow(Base):
    """One publication of a version: the latest row is the ruleset every process applies. Append-only, so the
    history shows who published what, when, why and how (a rollback is a new row naming an earlier version)."""

    __tablename__ = "ruleset_publications"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(BigInteger, ForeignKey("ruleset_versions.version"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_by: Mapped[str] = mapped_column(String(200))  # "user:<id>", "key:<name>", "cli:<os user>", "file"
    comment: Mapped[str] = mapped_column(String(1000))
    mode: Mapped[str] = mapped_column(String(16))  # from_now_on | retroactive
    via: Mapped[str] = mapped_column(String(16))  # file (start-up) | console | api | cli

    __table_args__ = (Index("ix_ruleset_publications_via_id", "via", "id"),)
