"""Audit log rows: who did what to whom, when and why. Append-only."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from rewards.models_base import Base, BigIntId, UTCDateTime


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))  # "key:<name>" or "user:<id>"
    action: Mapped[str] = mapped_column(String(64))  # badge.grant, perk.approve, codes.upload, ...
    user_id: Mapped[str | None] = mapped_column(String(200))  # the person affected, if any
    target: Mapped[str | None] = mapped_column(String(200))  # the badge, perk... acted on
    reason: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_user_id", "user_id"),
        Index("ix_audit_log_action", "action"),
    )
