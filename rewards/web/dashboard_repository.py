"""All SQL of the programme dashboard, the same on SQLite and PostgreSQL.

Counting per day happens in SQL (the day expression is the one thing each database spells its own way). Who
answered which question needs the post inside the event's JSON `data`, which the two databases read differently,
so those events are read in log order, a thousand rows at a time, and counted in Python (rewards/web/dashboard.py):
memory grows with the questions of the range, not with the log.
"""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.badges.models import BadgeAwardRow
from rewards.events.models import StoredEvent
from rewards.ledger.models import CounterRow
from rewards.perks.models import PerkGrantRow
from rewards.sql import dialect_name
from rewards.users.models import UserRow
from rewards.web.dashboard import LogEvent, answered_by

STREAM_ROWS = 1000


def _utc_day(session: AsyncSession) -> Any:
    if dialect_name(session) == "postgresql":
        return literal_column("to_char(events.time AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
    # SQLite keeps UTC times as 'YYYY-MM-DD HH:MM:SS.ffffff' text.
    return func.substr(StoredEvent.time, 1, 10)


async def events_per_day(session: AsyncSession, start: datetime, end: datetime) -> dict[date, int]:
    """Events that happened (their `time`) in [start, end), per UTC day."""
    day = _utc_day(session)
    rows = await session.execute(
        select(day, func.count()).where(StoredEvent.time >= start, StoredEvent.time < end).group_by(day)
    )
    return {date.fromisoformat(str(day_text)): int(count) for day_text, count in rows}


async def log_events(
    session: AsyncSession, types: Sequence[str], start: datetime, end: datetime
) -> AsyncIterator[LogEvent]:
    """Events of these types that happened in [start, end), in log order, a thousand at a time (by `seq`, so
    no server-side cursor or long transaction is needed)."""
    after = 0
    while True:
        rows = (
            await session.execute(
                select(StoredEvent.seq, StoredEvent.type, StoredEvent.time, StoredEvent.data)
                .where(
                    StoredEvent.seq > after,
                    StoredEvent.type.in_(types),
                    StoredEvent.time >= start,
                    StoredEvent.time < end,
                )
                .order_by(StoredEvent.seq)
                .limit(STREAM_ROWS)
            )
        ).all()
        for _, type_, time, data in rows:
            yield LogEvent(type_, time, data if isinstance(data, dict) else {})
        if len(rows) < STREAM_ROWS:
            return
        after = rows[-1][0]


@dataclass(frozen=True)
class PerkActivity:
    perk_id: str
    offered: int
    claimed: int
    granted_by_hand: int


async def perk_activity(session: AsyncSession, start: datetime, end: datetime) -> list[PerkActivity]:
    """Per perk: offers made (not requests awaiting approval), offers claimed (activated) and grants by hand, in
    [start, end)."""

    def within(column: Any) -> Any:
        return and_(column >= start, column < end)

    manual = PerkGrantRow.source == "manual"
    # A request awaiting a manager (or denied) holds a seat and has `offered_at`, but was never offered.
    request = PerkGrantRow.status.in_(("pending_approval", "denied"))
    offered = func.sum(case((and_(within(PerkGrantRow.offered_at), ~manual, ~request), 1), else_=0))
    claimed = func.sum(case((and_(within(PerkGrantRow.activated_at), ~manual), 1), else_=0))
    by_hand = func.sum(case((and_(within(PerkGrantRow.activated_at), manual), 1), else_=0))
    rows = await session.execute(
        select(PerkGrantRow.perk_id, offered, claimed, by_hand)
        .where(or_(within(PerkGrantRow.offered_at), within(PerkGrantRow.activated_at)))
        .group_by(PerkGrantRow.perk_id)
        .order_by(PerkGrantRow.perk_id)
    )
    return [PerkActivity(perk_id, int(o or 0), int(c or 0), int(h or 0)) for perk_id, o, c, h in rows]


# -- the proof that the programme works (rewards/web/dashboard_trends.py) ------------------------------------


async def newest_event_time(session: AsyncSession) -> datetime | None:
    """When the newest event in the log happened: where the dashboard's default range ends."""
    return (await session.execute(select(func.max(StoredEvent.time)))).scalar_one_or_none()


async def first_badge_awards(session: AsyncSession) -> dict[tuple[str, str], dict[str, datetime]]:
    """Per (badge, tier) held now: each holder's first award of it (post badges are awarded once per post)."""
    rows = await session.execute(
        select(BadgeAwardRow.badge_id, BadgeAwardRow.tier, BadgeAwardRow.user_id, func.min(BadgeAwardRow.granted_at))
        .where(BadgeAwardRow.revoked_at.is_(None))
        .group_by(BadgeAwardRow.badge_id, BadgeAwardRow.tier, BadgeAwardRow.user_id)
    )
    awards: dict[tuple[str, str], dict[str, datetime]] = {}
    for badge_id, tier, user_id, granted_at in rows:
        awards.setdefault((badge_id, tier), {})[user_id] = granted_at
    return awards


async def counter_values(session: AsyncSession, counter_id: str, scope: str, at_least: int) -> dict[str, int]:
    """Members whose per-user counter (in `scope`, "" for the total) is at least `at_least`."""
    rows = await session.execute(
        select(CounterRow.owner, CounterRow.value).where(
            CounterRow.counter_id == counter_id, CounterRow.scope == scope, CounterRow.value >= at_least
        )
    )
    return {owner: int(value) for owner, value in rows}


async def reputations(session: AsyncSession, at_least: int) -> dict[str, int]:
    rows = await session.execute(select(UserRow.user_id, UserRow.reputation).where(UserRow.reputation >= at_least))
    return {user_id: int(reputation) for user_id, reputation in rows}


@dataclass(frozen=True)
class PerkMembers:
    active_since: dict[str, datetime]  # each member who had the perk active: the first time
    queued: dict[str, datetime]  # each member ever queued for it (offered, waitlisted...): the first time


async def perk_members(session: AsyncSession) -> dict[str, PerkMembers]:
    rows = await session.execute(
        select(
            PerkGrantRow.perk_id,
            PerkGrantRow.user_id,
            func.min(PerkGrantRow.activated_at),
            func.min(PerkGrantRow.queued_at),
        ).group_by(PerkGrantRow.perk_id, PerkGrantRow.user_id)
    )
    perks: dict[str, PerkMembers] = {}
    for perk_id, user_id, activated_at, queued_at in rows:
        members = perks.setdefault(perk_id, PerkMembers({}, {}))
        if activated_at is not None:
            members.active_since[user_id] = activated_at
        members.queued[user_id] = queued_at
    return perks


async def answers_posted(session: AsyncSession, start: datetime, end: datetime) -> AsyncIterator[tuple[str, datetime]]:
    """(author, time) of the answers posted in [start, end), in log order."""
    async for event in log_events(session, ("answer.posted",), start, end):
        author = answered_by(event)
        if author is not None:
            yield author, event.time
