"""All SQL for users."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.badges import repository as badges_repository
from rewards.badges.models import BadgeAwardRow
from rewards.sql import chunks, one_of
from rewards.users.models import USER_COLUMNS, UserRow


@dataclass(frozen=True, slots=True)
class UserView:
    """What the read endpoints show of a user, read without the ORM (no identity map, no change tracking)."""

    user_id: str
    reputation: int
    suspended: bool
    suspended_until: datetime | None
    first_seen_at: datetime | None
    last_active_at: datetime | None
    updated_seq: int


# Built once: the forum's reads run these statements many times a second, and building a statement costs more
# than SQLAlchemy's compiled cache then saves.
_ONE_VIEW = select(*USER_COLUMNS).where(UserRow.user_id == bindparam("user_id"))


async def view(session: AsyncSession, user_id: str) -> UserView | None:
    row = (await session.execute(_ONE_VIEW, {"user_id": user_id})).first()
    return None if row is None else UserView(*row)


# A profile in one round trip: the user, then one row per held badge (none: one row of NULLs).
_ONE_PROFILE = (
    select(*USER_COLUMNS, BadgeAwardRow.badge_id, BadgeAwardRow.tier, BadgeAwardRow.granted_at)
    .outerjoin(BadgeAwardRow, and_(BadgeAwardRow.user_id == UserRow.user_id, badges_repository.HELD))
    .where(UserRow.user_id == bindparam("user_id"))
)


async def view_with_badges(
    session: AsyncSession, user_id: str
) -> tuple[UserView | None, list[tuple[str, str, str, datetime]]]:
    """The user and their held badges as (user, badge, tier, granted_at): what a profile shows."""
    rows: list[tuple[Any, ...]] = [tuple(row) for row in await session.execute(_ONE_PROFILE, {"user_id": user_id})]
    if not rows:
        return None, []
    columns = len(USER_COLUMNS)
    held = [(user_id, badge, tier, granted_at) for *_, badge, tier, granted_at in rows if badge is not None]
    return UserView(*rows[0][:columns]), held


def _many_profiles(session: AsyncSession, user_ids: list[str]) -> Any:
    return (
        select(*USER_COLUMNS, BadgeAwardRow.badge_id, BadgeAwardRow.tier, BadgeAwardRow.granted_at)
        .outerjoin(BadgeAwardRow, and_(BadgeAwardRow.user_id == UserRow.user_id, badges_repository.HELD))
        .where(one_of(session, UserRow.user_id, user_ids))
    )


async def views_with_badges(
    session: AsyncSession, user_ids: list[str]
) -> tuple[dict[str, UserView], list[tuple[str, str, str, datetime]]]:
    """Users and their held badges in one round trip (per chunk of ids): what a page of users or of a board shows.
    Users never named are left out, and so are their badges (a badge is only ever awarded to a named user)."""
    found: dict[str, UserView] = {}
    held: list[tuple[str, str, str, datetime]] = []
    columns = len(USER_COLUMNS)
    for batch in chunks(user_ids):
        for row in await session.execute(_many_profiles(session, batch)):
            user_id = row[0]
            if user_id not in found:
                found[user_id] = UserView(*row[:columns])
            badge, tier, granted_at = row[columns:]
            if badge is not None:
                held.append((user_id, badge, tier, granted_at))
    return found, held


async def views(session: AsyncSession, user_ids: list[str]) -> dict[str, UserView]:
    found: dict[str, UserView] = {}
    for batch in chunks(user_ids):
        rows = await session.execute(select(*USER_COLUMNS).where(one_of(session, UserRow.user_id, batch)))
        found.update((row[0], UserView(*row)) for row in rows)
    return found


async def get(session: AsyncSession, user_id: str) -> UserRow | None:
    return await session.get(UserRow, user_id)


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
