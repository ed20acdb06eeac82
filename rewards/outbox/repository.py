"""All SQL for the outbox and webhooks."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.outbox.models import OutboxMessage
from rewards.sql import chunks, table_of, upsert

# Eight bound parameters per row: stay well below SQLite's limit per statement.
INSERT_CHUNK = 500


async def insert_messages(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert outbox rows, skipping keys already there; how many were new."""
    inserted = 0
    for batch in chunks(rows, INSERT_CHUNK):
        statement = (
            upsert(session, table_of(OutboxMessage))
            .values(batch)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(table_of(OutboxMessage).c.id)
        )
        inserted += len((await session.execute(statement)).all())
    return inserted


async def message_by_key(session: AsyncSession, key: str) -> OutboxMessage | None:
    row: OutboxMessage | None = await session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
    return row
