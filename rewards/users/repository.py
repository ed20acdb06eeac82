"""All SQL for users and their profiles."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.badges import repository as badges_repository
from rewards.badges.models import BadgeAwardRow
from rewards.events.models import StoredEvent
from rewards.sql import chunks, one_of, table_of, upsert
from rewards.users.models import PROFILE_COLUMNS, USER_COLUMNS, MemberProfileRow, UserRow


@dataclass(frozen=True, slots=True)
class ProfileView:
    """How a member is shown (`member_profiles`): what the forum sent, as stored."""

    user_id: str
    username: str | None
    display_name: str | None
    avatar_url: str | None
    profile_url: str | None
    time_zone: str | None
    locale: str | None
    source: str
    version: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UserView:
    """What the read endpoints show of a user, read without the ORM (no identity map, no change tracking). The
    profile is part of it, so that every validator built from a view changes with the profile too."""

    user_id: str
    reputation: int
    suspended: bool
    suspended_until: datetime | None
    first_seen_at: datetime | None
    last_active_at: datetime | None
    updated_seq: int
    profile: ProfileView | None = None


_USER_FIELDS = len(USER_COLUMNS)
_PROFILE_FIELDS = len(PROFILE_COLUMNS)
_WITH_PROFILE = MemberProfileRow.user_id == UserRow.user_id


def _user_view(row: Sequence[Any]) -> UserView:
    """A row of USER_COLUMNS then PROFILE_COLUMNS (NULLs: no profile)."""
    user, profile = row[:_USER_FIELDS], row[_USER_FIELDS : _USER_FIELDS + _PROFILE_FIELDS]
    return UserView(
        user_id=user[0],
        reputation=user[1],
        suspended=user[2],
        suspended_until=user[3],
        first_seen_at=user[4],
        last_active_at=user[5],
        updated_seq=user[6],
        profile=None if profile[0] is None else _profile_view(profile),
    )


def _profile_view(row: Sequence[Any]) -> ProfileView:
    """A row of PROFILE_COLUMNS (its fields, in order)."""
    return ProfileView(*row)


# Built once: the forum's reads run these statements many times a second, and building a statement costs more
# than SQLAlchemy's compiled cache then saves.
_ONE_VIEW = (
    select(*USER_COLUMNS, *PROFILE_COLUMNS)
    .outerjoin(MemberProfileRow, _WITH_PROFILE)
    .where(UserRow.user_id == bindparam("user_id"))
)


async def view(session: AsyncSession, user_id: str) -> UserView | None:
    row = (await session.execute(_ONE_VIEW, {"user_id": user_id})).first()
    return None if row is None else _user_view(row)


# A profile in one round trip: the user, then one row per held badge (none: one row of NULLs).
_ONE_PROFILE = (
    select(*USER_COLUMNS, *PROFILE_COLUMNS, BadgeAwardRow.badge_id, BadgeAwardRow.tier, BadgeAwardRow.granted_at)
    .outerjoin(MemberProfileRow, _WITH_PROFILE)
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
    held = [(user_id, badge, tier, granted_at) for *_, badge, tier, granted_at in rows if badge is not None]
    return _user_view(rows[0]), held


def _many_profiles(session: AsyncSession, user_ids: list[str]) -> Any:
    return (
        select(*USER_COLUMNS, *PROFILE_COLUMNS, BadgeAwardRow.badge_id, BadgeAwardRow.tier, BadgeAwardRow.granted_at)
        .outerjoin(MemberProfileRow, _WITH_PROFILE)
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
    columns = _USER_FIELDS + _PROFILE_FIELDS
    for batch in chunks(user_ids):
        for row in await session.execute(_many_profiles(session, batch)):
            user_id = row[0]
            if user_id not in found:
                found[user_id] = _user_view(row)
            badge, tier, granted_at = row[columns:]
            if badge is not None:
                held.append((user_id, badge, tier, granted_at))
    return found, held


async def views(session: AsyncSession, user_ids: list[str]) -> dict[str, UserView]:
    found: dict[str, UserView] = {}
    for batch in chunks(user_ids):
        rows = await session.execute(
            select(*USER_COLUMNS, *PROFILE_COLUMNS)
            .outerjoin(MemberProfileRow, _WITH_PROFILE)
            .where(one_of(session, UserRow.user_id, batch))
        )
        found.update((row[0], _user_view(row)) for row in rows)
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


# -- member profiles --------------------------------------------------------------------------------------------


async def profiles(session: AsyncSession, user_ids: Sequence[str]) -> dict[str, ProfileView]:
    """The stored profiles of these members (members without one are left out)."""
    found: dict[str, ProfileView] = {}
    for batch in chunks(list(dict.fromkeys(user_ids))):
        rows = await session.execute(select(*PROFILE_COLUMNS).where(one_of(session, MemberProfileRow.user_id, batch)))
        found.update((row[0], _profile_view(row)) for row in rows)
    return found


async def profiles_to_change(session: AsyncSession, user_ids: Sequence[str]) -> dict[str, ProfileView]:
    """`profiles`, with the rows locked on PostgreSQL until the transaction ends: two writers of one member's
    profile take turns, so each one's version bump counts."""
    found: dict[str, ProfileView] = {}
    for batch in chunks(sorted(set(user_ids))):
        rows = await session.execute(
            select(*PROFILE_COLUMNS)
            .where(one_of(session, MemberProfileRow.user_id, batch))
            .order_by(MemberProfileRow.user_id)
            .with_for_update()
        )
        found.update((row[0], _profile_view(row)) for row in rows)
    return found


_PROFILE_TABLE = table_of(MemberProfileRow)
_WRITTEN = ("username", "display_name", "avatar_url", "profile_url", "time_zone", "locale", "source", "version",
            "updated_at", "search_key")  # fmt: skip


async def write_profiles(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert or replace whole profile rows (every column of `member_profiles`)."""
    for batch in chunks(rows, 500):
        statement = upsert(session, _PROFILE_TABLE).values(batch)
        statement = statement.on_conflict_do_update(
            index_elements=[MemberProfileRow.user_id],
            set_={name: statement.excluded[name] for name in _WRITTEN},
        )
        await session.execute(statement)


async def delete_profile(session: AsyncSession, user_id: str) -> bool:
    result = await session.execute(delete(MemberProfileRow).where(MemberProfileRow.user_id == user_id))
    return bool(getattr(result, "rowcount", 0))


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def find_members(session: AsyncSession, id_prefix: str, name_part: str, *, limit: int) -> list[UserView]:
    """Members whose id starts with `id_prefix`, or whose name or username holds `name_part` (case-folded, as
    `search_key` is), most reputation first. Only members an event has named: the console has nothing to show of
    the others."""
    pattern = f"%{_like_escaped(name_part)}%"
    rows = await session.execute(
        select(*USER_COLUMNS, *PROFILE_COLUMNS)
        .outerjoin(MemberProfileRow, _WITH_PROFILE)
        .where(
            or_(
                UserRow.user_id.startswith(id_prefix, autoescape=True),
                MemberProfileRow.search_key.like(pattern, escape="\\"),
            )
        )
        .order_by(UserRow.reputation.desc(), UserRow.user_id)
        .limit(limit)
    )
    return [_user_view(row) for row in rows]


async def posts_of_events(session: AsyncSession, seqs: Sequence[int]) -> dict[int, tuple[str, str | None, str | None]]:
    """(source, post id, post kind) of each event: what a ledger line or a badge links to."""
    post_id, kind = StoredEvent.data[("post", "id")].as_string(), StoredEvent.data[("post", "kind")].as_string()
    found: dict[int, tuple[str, str | None, str | None]] = {}
    for batch in chunks(sorted(set(seqs))):
        rows = await session.execute(
            select(StoredEvent.seq, StoredEvent.source, post_id, kind).where(one_of(session, StoredEvent.seq, batch))
        )
        found.update((seq, (source, post, post_kind)) for seq, source, post, post_kind in rows)
    return found


async def badge_post_events(session: AsyncSession, user_id: str) -> dict[str, int]:
    """The event that earned each of a member's per-post badges, by post (for a link to the post)."""
    rows = await session.execute(
        select(BadgeAwardRow.post, BadgeAwardRow.event_seq).where(
            BadgeAwardRow.user_id == user_id, BadgeAwardRow.post != "", BadgeAwardRow.event_seq > 0
        )
    )
    return {post: seq for post, seq in rows}
