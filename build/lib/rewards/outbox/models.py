"""Outbox messages, webhook endpoints, one delivery per (message, endpoint), and every delivery attempt."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rewards.models_base import Base, BigIntId, UTCDateTime


class MessageStatus(StrEnum):
    PENDING = "pending"  # not yet fanned out to the endpoints
    DISPATCHED = "dispatched"  # a delivery row exists for every endpoint that wanted it
    SUPPRESSED = "suppressed"  # recorded during a replay or backfill: kept for the record, never delivered


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last attempt
    CANCELLED = "cancelled"  # its endpoint was deleted first


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    # The caller's idempotency key: recording the same notification twice keeps one row.
    key: Mapped[str] = mapped_column(String(500))
    topic: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        UniqueConstraint("key", name="uq_outbox_messages_key"),
        Index("ix_outbox_messages_status_id", "status", "id"),
    )


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Kept in clear: every delivery is signed with it.
    secret: Mapped[str] = mapped_column(String(100))
    # Topic patterns ("badge.awarded", "perk.*"); empty means every topic.
    topics: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One message to one endpoint. Its id is stable across retries (`X-Rewards-Delivery`)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("outbox_messages.id"))
    endpoint_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("webhook_endpoints.id"))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    # When it is due; while a sender holds it, the end of that sender's lease.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The sender holding it: a result is recorded only by the sender whose claim is still current.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("message_id", "endpoint_id", name="uq_webhook_deliveries_message_id_endpoint_id"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
    )


class WebhookAttempt(Base):
    """The delivery log: one row per HTTP attempt, never changed."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("webhook_deliveries.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    # What this attempt scheduled: the next try, or nothing (delivered, or given up).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_webhook_attempts_delivery_id", "delivery_id"),)
