"""All SQL for the outbox and webhooks."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.outbox.models import (
    DeliveryStatus,
    MessageStatus,
    OutboxMessage,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from rewards.sql import asyncpg_connection, chunks, dialect_name, json_records, table_of, upsert

# Eight bound parameters per row: stay well below SQLite's limit per statement.
INSERT_CHUNK = 500


_MESSAGE_FIELDS = ("key", "topic", "user_id", "data", "occurred_at", "created_at", "status")


async def insert_messages(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert outbox rows, skipping keys already there; how many were new.

    A batch of events can write thousands of notices: PostgreSQL takes them as arrays in one statement, SQLite
    as one compiled statement run per row (a multi-row VALUES would be compiled anew for every batch)."""
    if not rows:
        return 0
    if dialect_name(session) == "postgresql":
        connection = await asyncpg_connection(session)
        inserted = 0
        for batch in chunks(rows, 5000):
            result = await connection.fetch(
                """
                INSERT INTO outbox_messages (key, topic, user_id, data, occurred_at, created_at, status)
                SELECT * FROM json_to_recordset($1::json) AS message (
                    key text, topic text, user_id text, data json, occurred_at timestamptz, created_at timestamptz,
                    status text)
                ON CONFLICT (key) DO NOTHING
                RETURNING id
                """,
                json_records(_MESSAGE_FIELDS, [[row[name] for name in _MESSAGE_FIELDS] for row in batch]),
            )
            inserted += len(result)
        return inserted
    statement = upsert(session, table_of(OutboxMessage)).on_conflict_do_nothing(index_elements=["key"])
    result = await session.execute(statement, rows)
    return int(result.rowcount)  # type: ignore[attr-defined]  # sqlite3 sums executemany's rows; skipped keys add 0


async def message_by_key(session: AsyncSession, key: str) -> OutboxMessage | None:
    row: OutboxMessage | None = await session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
    return row


async def lock_pending_messages(session: AsyncSession, limit: int) -> list[OutboxMessage]:
    """Messages not fanned out yet, locked; rows another fan-out holds are skipped (PostgreSQL)."""
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.status == MessageStatus.PENDING)
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(statement)).all())


async def mark_messages(session: AsyncSession, ids: Sequence[int], status: MessageStatus) -> None:
    for batch in chunks(ids):
        await session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(batch)).values(status=status.value))


async def insert_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    for batch in chunks(rows, INSERT_CHUNK):
        statement = (
            upsert(session, table_of(WebhookDelivery))
            .values(batch)
            .on_conflict_do_nothing(index_elements=["message_id", "endpoint_id"])
        )
        await session.execute(statement)


async def insert_delivery(session: AsyncSession, **values: Any) -> int:
    row = WebhookDelivery(**values)
    session.add(row)
    await session.flush()
    return row.id


async def lock_due_deliveries(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[WebhookDelivery, OutboxMessage, WebhookEndpoint]]:
    """Due deliveries to active endpoints, locked: a delivery another sender holds is skipped (PostgreSQL)."""
    statement = (
        select(WebhookDelivery, OutboxMessage, WebhookEndpoint)
        .join(OutboxMessage, OutboxMessage.id == WebhookDelivery.message_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.active.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    return [(delivery, message, endpoint) for delivery, message, endpoint in (await session.execute(statement))]


async def lease_deliveries(session: AsyncSession, ids: Sequence[int], token: str, until: datetime) -> None:
    for batch in chunks(ids):
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(batch))
            .values(claim_token=token, next_attempt_at=until)
        )


async def finish_attempt(session: AsyncSession, delivery_id: int, token: str, values: dict[str, Any]) -> bool:
    """Record an attempt's result on its delivery if the sender's claim is still current; whether it was."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.claim_token == token,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .values(**values)
        .returning(WebhookDelivery.id)
    )
    return result.first() is not None


async def add_attempts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(table_of(WebhookAttempt).insert(), list(rows))


async def add_endpoint(session: AsyncSession, **values: Any) -> WebhookEndpoint:
    row = WebhookEndpoint(**values)
    session.add(row)
    await session.flush()
    return row


async def get_endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint | None:
    """An endpoint that has not been deleted."""
    row: WebhookEndpoint | None = await session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.deleted_at.is_(None))
    )
    return row


async def active_endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    statement = select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True)).order_by(WebhookEndpoint.id)
    return list((await session.scalars(statement)).all())


async def list_endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    statement = select(WebhookEndpoint).where(WebhookEndpoint.deleted_at.is_(None)).order_by(WebhookEndpoint.id)
    return list((await session.scalars(statement)).all())


async def delete_endpoint(session: AsyncSession, endpoint_id: int, now: datetime) -> None:
    """Soft delete (its delivery log stays) and cancel what it still had to receive."""
    await session.execute(
        update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(active=False, deleted_at=now)
    )
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.CANCELLED.value, next_attempt_at=None, claim_token=None)
    )


async def deliveries_of_endpoint(
    session: AsyncSession, endpoint_id: int, *, before: int | None, limit: int, status: str | None
) -> list[tuple[WebhookDelivery, OutboxMessage]]:
    """Newest first."""
    statement = (
        select(WebhookDelivery, OutboxMessage)
        .join(OutboxMessage, OutboxMessage.id == WebhookDelivery.message_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if before is not None:
        statement = statement.where(WebhookDelivery.id < before)
    if status is not None:
        statement = statement.where(WebhookDelivery.status == status)
    return [(delivery, message) for delivery, message in (await session.execute(statement))]


async def attempts_of(session: AsyncSession, delivery_ids: Sequence[int]) -> list[WebhookAttempt]:
    """Oldest first."""
    found: list[WebhookAttempt] = []
    for batch in chunks(delivery_ids):
        statement = (
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(batch))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.attempt, WebhookAttempt.id)
        )
        found.extend((await session.scalars(statement)).all())
    return found


async def get_delivery(session: AsyncSession, delivery_id: int) -> tuple[WebhookDelivery, OutboxMessage] | None:
    statement = (
        select(WebhookDelivery, OutboxMessage)
        .join(OutboxMessage, OutboxMessage.id == WebhookDelivery.message_id)
        .where(WebhookDelivery.id == delivery_id)
    )
    row = (await session.execute(statement)).first()
    return None if row is None else (row[0], row[1])
