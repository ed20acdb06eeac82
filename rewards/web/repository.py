"""SQL the pages need beyond what rewards/users and rewards/ledger already offer."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.users.models import UserRow


async def most_reputable_user_id(session: AsyncSession) -> str | None:
    return await session.scalar(select(UserRow.user_id).order_by(UserRow.reputation.desc(), UserRow.user_id).limit(1))
