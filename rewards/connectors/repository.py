"""All SQL for connectors: their state rows (watermark, lease, last error), and the posts they need from the log."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.connectors.models import ConnectorStateRow
from rewards.events.models import StoredEvent
from rewards.sql import chunks, one_of, upsert

POST_EVENT_TYPES = ("question.posted", "answer.posted")


async def take_lease(
    session: AsyncSession, connector: str, stream: str, holder: str, now: datetime, until: datetime
) -> ConnectorStateRow | None:
    """The stream's row, leased to `holder` until `until`; None while another holder's lease runs. The row is
    created on first use."""
    await session.execute(
        upsert(session, ConnectorStateRow)
        .values(connector=connector, stream=stream, failures=0, events_accepted=0)
        .on_conflict_do_nothing(index_elements=["connector", "stream"])
    )
    taken = await session.execute(
        update(ConnectorStateRow)
        .where(ConnectorStateRow.connector == connector, ConnectorStateRow.stream == stream)
        .where(
            or_(
                ConnectorStateRow.lease_until.is_(None),
                ConnectorStateRow.lease_until < now,
                ConnectorStateRow.lease_holder == holder,
            )
        )
        .values(lease_holder=holder, lease_until=until, last_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) != 1:
        return None
    return await state(session, connector, stream)


async def state(session: AsyncSession, connector: str, stream: str) -> ConnectorStateRow | None:
    return await session.scalar(
        select(ConnectorStateRow)
        .where(ConnectorStateRow.connector == connector, ConnectorStateRow.stream == stream)
        .execution_options(populate_existing=True)
    )


async def advance(
    session: AsyncSession,
    connector: str,
    stream: str,
    holder: str,
    watermark: datetime,
    accepted: int,
    now: datetime,
    lease: timedelta,
) -> None:
    """A window was read and its events stored (in this same transaction): move the watermark, and keep the lease
    for another `lease` (a long catch-up outlives the first one)."""
    await session.execute(
        update(ConnectorStateRow)
        .where(ConnectorStateRow.connector == connector, ConnectorStateRow.stream == stream)
        .where(ConnectorStateRow.lease_holder == holder)
        .values(
            watermark=watermark,
            last_success_at=now,
            last_error=None,
            failures=0,
            events_accepted=ConnectorStateRow.events_accepted + accepted,
            lease_until=now + lease,
        )
        .execution_options(synchronize_session=False)
    )


async def fail(session: AsyncSession, connector: str, stream: str, holder: str, error: str) -> None:
    await session.execute(
        update(ConnectorStateRow)
        .where(ConnectorStateRow.connector == connector, ConnectorStateRow.stream == stream)
        .where(ConnectorStateRow.lease_holder == holder)
        .values(last_error=error[:2000], failures=ConnectorStateRow.failures + 1)
        .execution_options(synchronize_session=False)
    )


async def release(session: AsyncSession, connector: str, stream: str, holder: str) -> None:
    await session.execute(
        update(ConnectorStateRow)
        .where(ConnectorStateRow.connector == connector, ConnectorStateRow.stream == stream)
        .where(ConnectorStateRow.lease_holder == holder)
        .values(lease_holder=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


async def set_watermark(session: AsyncSession, connector: str, stream: str, watermark: datetime) -> None:
    """Where a stream starts (an operator's `--since`): only for a stream that has not read anything yet."""
    await session.execute(
        upsert(session, ConnectorStateRow)
        .values(connector=connector, stream=stream, failures=0, events_accepted=0)
        .on_conflict_do_nothing(index_elements=["connector", "stream"])
    )
    await session.execute(
        update(ConnectorStateRow)
        .where(ConnectorStateRow.connector == connector, ConnectorStateRow.stream == stream)
        .where(ConnectorStateRow.watermark.is_(None))
        .values(watermark=watermark)
        .execution_options(synchronize_session=False)
    )


async def all_states(session: AsyncSession) -> Sequence[ConnectorStateRow]:
    return (
        await session.scalars(select(ConnectorStateRow).order_by(ConnectorStateRow.connector, ConnectorStateRow.stream))
    ).all()


async def posts_by_event_id(session: AsyncSession, source: str, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`data.post` of the stored `question.posted`/`answer.posted` events with these ids, by event id: a kudo
    that names only its message finds the message's author there."""
    found: dict[str, dict[str, Any]] = {}
    for part in chunks(sorted(set(event_ids))):
        rows = await session.execute(
            select(StoredEvent.event_id, StoredEvent.data)
            .where(StoredEvent.source == source, one_of(session, StoredEvent.event_id, part))
            .where(StoredEvent.type.in_(POST_EVENT_TYPES))
        )
        for event_id, data in rows:
            post = data.get("post") if isinstance(data, dict) else None
            if isinstance(post, dict):
                found[event_id] = post
    return found
