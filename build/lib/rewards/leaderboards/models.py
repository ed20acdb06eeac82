"""Leaderboard tables: scores per board, period and user (derived from the ledger, rebuildable), the deltas of
applied batches not yet added to them (PostgreSQL), the sync watermark, and the periods closed with their
winners."""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from rewards.models_base import Base, UTCDateTime


class LeaderboardScoreRow(Base):
    """A user's score on a board in one period (`period` is the period key: `all`, `2026`, `2026-W47`...)."""

    __tablename__ = "leaderboard_scores"

    board: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    score: Mapped[int] = mapped_column(BigInteger)
    # When the user reached this score: the latest time of the entries that changed it (ties: earlier first).
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_leaderboard_scores_order", "board", "period", "score", "reached_at", "user_id"),)


# What an applied batch adds to the scores, waiting to be folded into `leaderboard_scores` (PostgreSQL only).
# A batch appends its deltas here (a COPY into a table with no index to keep) instead of upserting about five
# rows per event inside the apply transaction; a fold, on its own connection while the next batch is computed,
# moves them into the scores. The scores plus these rows are the boards as of `leaderboard_sync.applied_through`.
leaderboard_deltas = Table(
    "leaderboard_deltas",
    Base.metadata,
    Column("board", String(64), nullable=False),
    Column("period", String(16), nullable=False),
    Column("user_id", String(200), nullable=False),
    Column("score", BigInteger, nullable=False),
    Column("reached_at", UTCDateTime, nullable=False),
)


class LeaderboardSync(Base):
    """One row: the last event seq the scores include, and the digest of the boards they were computed for.
    Redis holds the same seq; a mismatch means Redis missed something and is rebuilt."""

    __tablename__ = "leaderboard_sync"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_through: Mapped[int] = mapped_column(BigInteger)
    boards_digest: Mapped[str] = mapped_column(String(64))


class LeaderboardPeriodClosure(Base):
    """A period whose end-of-period awards were given: inserted once (unique key), whoever gets there first."""

    __tablename__ = "leaderboard_period_closures"

    board: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_by: Mapped[str] = mapped_column(String(200))


class LeaderboardWinner(Base):
    """A winner of a closed period and the prize the board declared (`badge:<id>` or `perk:<id>`)."""

    __tablename__ = "leaderboard_winners"

    board: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    prize: Mapped[str] = mapped_column(String(80), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(BigInteger)
    # Whether the badge or perk was handed over (False: recorded, waiting for the badge/perk service).
    granted: Mapped[bool] = mapped_column(Boolean, default=False)
