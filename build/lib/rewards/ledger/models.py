"""Ledger tables. `ledger_entries` is append-only; the others are derived state that replay rebuilds."""

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from rewards.models_base import Base, UTCDateTime


class LedgerEntryRow(Base):
    __tablename__ = "ledger_entries"

    # Deterministic: event seq * 1,000,000 + the entry's place in that event, so a replay writes the same ids.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[str] = mapped_column(String(200))
    points: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    award_id: Mapped[int] = mapped_column(BigInteger)
    reverses_id: Mapped[int | None] = mapped_column(BigInteger)
    event_seq: Mapped[int] = mapped_column(BigInteger)
    rule_id: Mapped[str] = mapped_column(String(64))
    ruleset_version: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(600))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_ledger_entries_user_id_id", "user_id", "id"),)


class AwardRow(Base):
    __tablename__ = "awards"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[str] = mapped_column(String(200))
    rule_id: Mapped[str] = mapped_column(String(64))
    event_seq: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str | None] = mapped_column(String(300))
    slot: Mapped[str | None] = mapped_column(String(600))
    points: Mapped[int] = mapped_column(Integer)
    cap_id: Mapped[str | None] = mapped_column(String(64))
    cap_max: Mapped[int | None] = mapped_column(Integer)
    cap_day: Mapped[date | None] = mapped_column(Date)
    label: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # JSON list of [counter id, scope value or null, weight] this award adds to while live; null if none.
    counts: Mapped[str | None] = mapped_column(String(1000))

    __table_args__ = (
        Index(
            "ix_awards_slot_open",
            "slot",
            postgresql_where=text("status <> 'undone' AND slot IS NOT NULL"),
            sqlite_where=text("status <> 'undone' AND slot IS NOT NULL"),
        ),
        Index(
            "ix_awards_subject_open",
            "subject",
            postgresql_where=text("status <> 'undone' AND subject IS NOT NULL"),
            sqlite_where=text("status <> 'undone' AND subject IS NOT NULL"),
        ),
    )


class CapBucketRow(Base):
    __tablename__ = "cap_buckets"

    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    cap_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    raw: Mapped[int] = mapped_column(Integer)
    credited: Mapped[int] = mapped_column(Integer)


class SuspensionRow(Base):
    """A subject (usually a post) whose awards are suspended by an event type, e.g. `post.removed`."""

    __tablename__ = "suspensions"

    subject: Mapped[str] = mapped_column(String(300), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(128), primary_key=True)


class CounterRow(Base):
    """A running count: of a user (accepted answers, per category too) or of a post (its score)."""

    __tablename__ = "counters"

    owner: Mapped[str] = mapped_column(String(300), primary_key=True)
    counter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)  # "" for the total
    value: Mapped[int] = mapped_column(Integer)


class StreakRow(Base):
    """Consecutive UTC days on which a user's counter went up."""

    __tablename__ = "streaks"

    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    counter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_day: Mapped[date] = mapped_column(Date)
    length: Mapped[int] = mapped_column(Integer)
    best: Mapped[int] = mapped_column(Integer)
