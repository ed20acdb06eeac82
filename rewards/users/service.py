"""Use cases for reading users: profile and reputation history."""

from sqlalchemy.ext.asyncio import AsyncSession

from rewards.errors import NotFound
from rewards.events.service import entry_out
from rewards.ledger import repository as ledger_repository
from rewards.users import repository
from rewards.users.models import UserRow
from rewards.users.schemas import HistoryOut, UserOut


async def _user(session: AsyncSession, user_id: str) -> UserRow:
    user = await repository.get(session, user_id)
    if user is None:
        raise NotFound(f"user {user_id!r} has not appeared in any event yet")
    return user


async def profile(session: AsyncSession, user_id: str) -> UserOut:
    user = await _user(session, user_id)
    return UserOut(
        user_id=user.user_id,
        reputation=user.reputation,
        suspended=user.suspended,
        suspended_until=user.suspended_until,
        first_seen_at=user.first_seen_at,
        last_active_at=user.last_active_at,
    )


async def history(session: AsyncSession, user_id: str, *, before: int | None, limit: int) -> HistoryOut:
    user = await _user(session, user_id)
    rows = await ledger_repository.history(session, user_id, before_id=before, limit=limit + 1)
    page = rows[:limit]
    return HistoryOut(
        user_id=user_id,
        reputation=user.reputation,
        entries=[entry_out(row) for row in page],
        next_before=page[-1].id if len(rows) > limit else None,
    )
