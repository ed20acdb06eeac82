"""Reported contributions: one row per report, through its whole life (pending, then approved, denied or
withdrawn). An approval is also an event in the log (`contribution.approved`), whose id the row keeps."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from rewards.models_base import Base, BigIntId, UTCDateTime


class ContributionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"


class ContributionRow(Base):
    __tablename__ = "contributions"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(200))  # the member who made it
    kind: Mapped[str] = mapped_column(String(64))  # one of the rules file's `contributions`
    title: Mapped[str] = mapped_column(String(200))
    details: Mapped[str | None] = mapped_column(String(2000))
    link: Mapped[str | None] = mapped_column(String(500))  # an absolute http(s) address only
    file_name: Mapped[str | None] = mapped_column(String(200))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reported_by: Mapped[str] = mapped_column(String(200))  # "user:<id>" (the member's page) or "key:<name>"
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(String(500))  # the manager's words to the member
    event_source: Mapped[str | None] = mapped_column(String(500))  # the approval's event, (source, id)
    event_id: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_contributions_status_reported_at", "status", "reported_at"),
        Index("ix_contributions_user_id_reported_at", "user_id", "reported_at"),
    )
