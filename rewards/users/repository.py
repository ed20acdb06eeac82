"""All SQL for users."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.users.models import UserRow


async def get(session: AsyncSession, user_id: str) -> UserRow | None:
    return await session.get(UserRow, user_id)


async def get_many(session: AsyncSession, user_ids: list[str]) -> dict[str, UserRow]:
    rows = await session.scalars(select(UserRow).where(UserRow.user_id.in_(user_ids)))
    return {row.user_id: row for row in rows}
