"""The raw event log (immutable once stored), the cursor of what has been applied, and each event's outcome."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rewards.models_base import Base, BigIntId, UTCDateTime


class EventStatus(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"


class StoredEvent(Base):
    __tablename__ = "events"

    # The order of acceptance. Intake takes a short lock so that this order is also the commit order: an event
    # with a seq at or below the apply cursor can never appear later.
    seq: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(500))
    event_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(128))
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("source", "event_id", name="uq_events_source_event_id"),
        # The console reads the log by time: the dashboard by type and date range, a rules preview's last N days.
        Index("ix_events_type_time", "type", "time"),
        Index("ix_events_time", "time"),
    )


class ApplyCursor(Base):
    """One row. Whoever holds its row lock applies the log; `applied_through` is the last seq applied."""

    __tablename__ = "apply_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_through: Mapped[int] = mapped_column(BigInteger, default=0)
    holder: Mapped[str | None] = mapped_column(String(200))
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who advanced the cursor last: an applier that finds its own token here knows that nobody else has
    # changed the derived state since, so the state it kept in memory is still exact.
    last_writer: Mapped[str | None] = mapped_column(String(64))


class EventOutcome(Base):
    """What applying an event did: written once, in the same transaction as its ledger entries."""

    __tablename__ = "event_outcomes"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ruleset_version: Mapped[int] = mapped_column(BigInteger)
    rules_fired: Mapped[list[str]] = mapped_column(JSON)
    notes: Mapped[list[str]] = mapped_column(JSON)
