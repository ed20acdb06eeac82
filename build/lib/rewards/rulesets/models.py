"""Ruleset versions: the exact text of every ruleset events were applied under, and which one is published."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, text
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


class PublishJobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # published: the publication, its replay and this status committed together
    FAILED = "failed"  # nothing changed; `error` says why
    CANCELLED = "cancelled"  # while queued: by a manager, or by a changed rules file published at start-up


UNFINISHED_JOBS = (PublishJobStatus.QUEUED, PublishJobStatus.RUNNING)


class RulesetPublishJobRow(Base):
    """A retroactive publication asked for and run in the background (a replay of the whole log can take
    minutes): queued -> running -> done (the publication committed with its replay) or failed (nothing
    changed). At most one is queued or running at a time."""

    __tablename__ = "ruleset_publish_jobs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(BigInteger, ForeignKey("ruleset_versions.version"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_by: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(String(1000))
    via: Mapped[str] = mapped_column(String(16))  # console | api
    status: Mapped[str] = mapped_column(String(16))  # a PublishJobStatus
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    events_total: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the log's length when it started
    events_done: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # progress (PostgreSQL only)
    replayed_events: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    failed_events: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    publication_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("ruleset_publications.id"), nullable=True)
    action: Mapped[str | None] = mapped_column(String(32), nullable=True)  # ruleset.published | .rolled_back
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_ruleset_publish_jobs_status_id", "status", "id"),
        # At most one job queued or running, whatever requests race: every unfinished row has the same key.
        Index(
            "ux_ruleset_publish_jobs_one_unfinished",
            text("(status IN ('queued', 'running'))"),
            unique=True,
            postgresql_where=text("status IN ('queued', 'running')"),
            sqlite_where=text("status IN ('queued', 'running')"),
        ),
    )
