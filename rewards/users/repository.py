"""All SQL for users."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.sql import chunks, one_of
from rewards.users.models import UserRow


async def get(session: AsyncSession, user_id: str) -> UserRow | None:
    return await session.get(UserRow, user_id)


async def get_many(session: AsyncSession, user_ids: list[str]) -> dict[str, UserRow]:
    rows = await session.scalars(select(UserRow).where(one_of(session, UserRow.user_id, user_ids)))
    return {row.user_id: row for row in rows}


async def get_many_reputations(session: AsyncSession, user_ids: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for batch in chunks(user_ids):
        query = select(UserRow.user_id, UserRow.reputation).where(one_of(session, UserRow.user_id, batch))
        rows = await session.execute(query)
        found.update({user_id: reputation for user_id, reputation in rows})
    return found


async def suspensions_ended(session: AsyncSession, now: datetime, limit: int = 1000) -> list[tuple[str, datetime]]:
    rows = await session.execute(
        select(UserRow.user_id, UserRow.suspended_until)
        .where(UserRow.suspended.is_(True), UserRow.suspended_until <= now)
        .order_by(UserRow.suspended_until)
        .limit(limit)
    )
    return [(user_id, until) for user_id, until in rows if until is not None]
