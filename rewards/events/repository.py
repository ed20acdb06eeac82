"""All SQL for the event log."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.engine.state import EventInput
from rewards.events.models import EventStatus, StoredEvent
from rewards.sql import dialect_name, upsert

# Held for the length of an intake transaction, so that sequence order equals commit order: the applier can
# then never skip an event that a slower transaction committed late.
INTAKE_LOCK_KEY = 7_426_002


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Store events; returns the seq of each new (source, id). Redeliveries are left as they were."""
    if dialect_name(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INTAKE_LOCK_KEY})
    statement = (
        upsert(session, StoredEvent)
        .on_conflict_do_nothing(index_elements=[StoredEvent.source, StoredEvent.event_id])
        .returning(StoredEvent.seq, StoredEvent.source, StoredEvent.event_id)
    )
    result = await session.execute(statement, list(rows))
    return {(source, event_id): seq for seq, source, event_id in result}


def _event_input(row: Any) -> EventInput:
    return EventInput(seq=row.seq, source=row.source, id=row.event_id, type=row.type, time=row.time, data=row.data)


_INPUT_COLUMNS = (
    StoredEvent.seq,
    StoredEvent.source,
    StoredEvent.event_id,
    StoredEvent.type,
    StoredEvent.time,
    StoredEvent.data,
)


async def pending_batch(session: AsyncSession, limit: int) -> list[EventInput]:
    rows = await session.execute(
        select(*_INPUT_COLUMNS).where(StoredEvent.status == EventStatus.PENDING).order_by(StoredEvent.seq).limit(limit)
    )
    return [_event_input(row) for row in rows]


async def events_after(session: AsyncSession, after_seq: int, limit: int) -> list[EventInput]:
    rows = await session.execute(
        select(*_INPUT_COLUMNS).where(StoredEvent.seq > after_seq).order_by(StoredEvent.seq).limit(limit)
    )
    return [_event_input(row) for row in rows]


async def record_outcomes(session: AsyncSession, outcomes: Sequence[dict[str, Any]]) -> None:
    """Each outcome: seq, status, error, applied_at, ruleset_version, outcome."""
    if outcomes:
        await session.execute(update(StoredEvent), list(outcomes))


async def pending_count(session: AsyncSession) -> int:
    count = await session.scalar(
        select(func.count()).select_from(StoredEvent).where(StoredEvent.status == EventStatus.PENDING)
    )
    return int(count or 0)


async def has_pending(session: AsyncSession, up_to_seq: int | None = None) -> bool:
    query = select(StoredEvent.seq).where(StoredEvent.status == EventStatus.PENDING)
    if up_to_seq is not None:
        query = query.where(StoredEvent.seq <= up_to_seq)
    return (await session.scalar(query.limit(1))) is not None


async def get_event(session: AsyncSession, source: str, event_id: str) -> StoredEvent | None:
    return await session.scalar(
        select(StoredEvent).where(StoredEvent.source == source, StoredEvent.event_id == event_id)
    )


async def reset_all(session: AsyncSession) -> None:
    """Before a replay: every event is applied again."""
    await session.execute(
        update(StoredEvent).values(status=EventStatus.PENDING, error=None, applied_at=None, outcome=None)
    )
