"""All SQL for counters, streaks and badge awards: load what a batch needs, save what it changed, read them."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.badges.models import BadgeAwardRow
from rewards.engine.state import BadgeHolding, BadgeKey, BadgeSource, CounterKey, Streak, WorkingState
from rewards.ledger.models import CounterRow, StreakRow
from rewards.sql import asyncpg_connection, chunks, dialect_name, json_records, one_of, table_of, upsert

# Every column of a badge award, in the order the bulk writes and the state loads use (snapshots compare them).
BADGE_COLUMNS = (
    BadgeAwardRow.user_id,
    BadgeAwardRow.badge_id,
    BadgeAwardRow.tier,
    BadgeAwardRow.post,
    BadgeAwardRow.granted_at,
    BadgeAwardRow.event_seq,
    BadgeAwardRow.source,
    BadgeAwardRow.reason,
    BadgeAwardRow.revoked_at,
    BadgeAwardRow.revoked_reason,
    BadgeAwardRow.revoked_by,
)
_BADGE_FIELDS = tuple(column.key for column in BADGE_COLUMNS)
RULES_REVOKER = "rules"


async def _rows(session: AsyncSession, postgres_sql: str, portable: Any, *arguments: Any) -> list[Any]:
    if dialect_name(session) == "postgresql":
        connection = await asyncpg_connection(session)
        return list(await connection.fetch(postgres_sql, *arguments))
    return list(await session.execute(portable))


async def load_counters(session: AsyncSession, state: WorkingState, owners: Iterable[str]) -> None:
    """Every counter of these users and posts, unless the state has them already."""
    wanted = sorted(set(owners) - state.loaded_counter_owners)
    for batch in chunks(wanted):
        rows = await _rows(
            session,
            "SELECT owner, counter_id, scope, value FROM counters WHERE owner = ANY($1::text[])",
            select(CounterRow.owner, CounterRow.counter_id, CounterRow.scope, CounterRow.value).where(
                CounterRow.owner.in_(batch)
            ),
            batch,
        )
        for owner, counter_id, scope, value in rows:
            state.counters.setdefault((owner, counter_id, scope), value)
    state.loaded_counter_owners.update(wanted)


async def load_recognition(session: AsyncSession, state: WorkingState, users: Iterable[str]) -> None:
    """The badges (held or revoked) and streaks of these users, unless the state has them already."""
    wanted = sorted(set(users) - state.loaded_recognition_users)
    columns = ", ".join(_BADGE_FIELDS)
    for batch in chunks(wanted):
        rows = await _rows(
            session,
            f"SELECT {columns} FROM badge_awards WHERE user_id = ANY($1::text[])",  # noqa: S608
            select(*BADGE_COLUMNS).where(BadgeAwardRow.user_id.in_(batch)),
            batch,
        )
        for row in rows:
            values = list(row)
            values[6] = BadgeSource(values[6])
            state.put_badge(BadgeHolding(*values), loaded=True)
        streaks = await _rows(
            session,
            "SELECT user_id, counter_id, last_day, length, best FROM streaks WHERE user_id = ANY($1::text[])",
            select(StreakRow.user_id, StreakRow.counter_id, StreakRow.last_day, StreakRow.length, StreakRow.best).where(
                StreakRow.user_id.in_(batch)
            ),
            batch,
        )
        for user_id, counter_id, last_day, length, best in streaks:
            state.streaks.setdefault((user_id, counter_id), Streak(last_day=last_day, length=length, best=best))
    state.loaded_recognition_users.update(wanted)


def _holding_values(holding: BadgeHolding) -> tuple[Any, ...]:
    return (
        holding.user_id,
        holding.badge_id,
        holding.tier,
        holding.post,
        holding.granted_at,
        holding.event_seq,
        holding.source.value,
        holding.reason,
        holding.revoked_at,
        holding.revoked_reason,
        holding.revoked_by,
    )


@dataclass(frozen=True)
class RecognitionChanges:
    """The counters, streaks and badge awards a batch changed, as plain rows."""

    counters: list[tuple[Any, ...]]
    streaks: list[tuple[Any, ...]]
    badges: list[tuple[Any, ...]]


def changes(state: WorkingState) -> RecognitionChanges:
    return RecognitionChanges(
        counters=[(*key, state.counters[key]) for key in sorted(state.changed_counters)],
        streaks=[
            (user_id, counter_id, streak.last_day, streak.length, streak.best)
            for (user_id, counter_id) in sorted(state.changed_streaks)
            for streak in (state.streaks[(user_id, counter_id)],)
        ],
        badges=[_holding_values(state.badges[key]) for key in sorted(state.changed_badges)],
    )


async def save(session: AsyncSession, changes: RecognitionChanges) -> None:
    """Write the counters, streaks and badge awards a batch changed."""
    counters, streaks, badges = changes.counters, changes.streaks, changes.badges
    if dialect_name(session) == "postgresql":
        connection = await asyncpg_connection(session)
        if counters:
            await connection.execute(
                """
                INSERT INTO counters (owner, counter_id, scope, value)
                SELECT * FROM json_to_recordset($1::json)
                    AS changed (owner text, counter_id text, scope text, value int)
                ON CONFLICT (owner, counter_id, scope) DO UPDATE SET value = excluded.value
                """,
                json_records(("owner", "counter_id", "scope", "value"), counters),
            )
        if streaks:
            await connection.execute(
                """
                INSERT INTO streaks (user_id, counter_id, last_day, length, best)
                SELECT * FROM json_to_recordset($1::json)
                    AS changed (user_id text, counter_id text, last_day date, length int, best int)
                ON CONFLICT (user_id, counter_id) DO UPDATE SET
                    last_day = excluded.last_day, length = excluded.length, best = excluded.best
                """,
                json_records(("user_id", "counter_id", "last_day", "length", "best"), streaks),
            )
        if badges:
            await connection.execute(
                """
                INSERT INTO badge_awards (user_id, badge_id, tier, post, granted_at, event_seq, source, reason,
                                          revoked_at, revoked_reason, revoked_by)
                SELECT * FROM json_to_recordset($1::json) AS changed (
                    user_id text, badge_id text, tier text, post text, granted_at timestamptz, event_seq bigint,
                    source text, reason text, revoked_at timestamptz, revoked_reason text, revoked_by text)
                ON CONFLICT (user_id, badge_id, tier, post) DO UPDATE SET
                    granted_at = excluded.granted_at, event_seq = excluded.event_seq, source = excluded.source,
                    reason = excluded.reason, revoked_at = excluded.revoked_at,
                    revoked_reason = excluded.revoked_reason, revoked_by = excluded.revoked_by
                """,
                json_records(_BADGE_FIELDS, badges),
            )
        return
    if counters:
        statement = upsert(session, table_of(CounterRow))
        statement = statement.on_conflict_do_update(
            index_elements=["owner", "counter_id", "scope"], set_={"value": statement.excluded.value}
        )
        await session.execute(
            statement,
            [{"owner": o, "counter_id": c, "scope": s, "value": v} for o, c, s, v in counters],
        )
    if streaks:
        statement = upsert(session, table_of(StreakRow))
        statement = statement.on_conflict_do_update(
            index_elements=["user_id", "counter_id"],
            set_={name: getattr(statement.excluded, name) for name in ("last_day", "length", "best")},
        )
        await session.execute(
            statement,
            [{"user_id": u, "counter_id": c, "last_day": d, "length": n, "best": b} for u, c, d, n, b in streaks],
        )
    if badges:
        statement = upsert(session, table_of(BadgeAwardRow))
        statement = statement.on_conflict_do_update(
            index_elements=["user_id", "badge_id", "tier", "post"],
            set_={name: getattr(statement.excluded, name) for name in _BADGE_FIELDS[4:]},
        )
        await session.execute(statement, [dict(zip(_BADGE_FIELDS, row, strict=True)) for row in badges])


async def clear_rule_badges(session: AsyncSession) -> None:
    """Before a replay: drop what the rules granted; keep grants by hand or by a leaderboard, and revocations by
    a manager."""
    await session.execute(
        delete(BadgeAwardRow).where(
            BadgeAwardRow.source == BadgeSource.RULE.value,
            or_(BadgeAwardRow.revoked_by.is_(None), BadgeAwardRow.revoked_by == RULES_REVOKER),
        )
    )


# -- reading ----------------------------------------------------------------------------------------------


async def holder_counts(session: AsyncSession, badge_id: str | None = None) -> dict[tuple[str, str], int]:
    """Users holding each (badge, tier) now; of one badge only with `badge_id`."""
    conditions: list[ColumnElement[bool]] = [BadgeAwardRow.revoked_at.is_(None)]
    if badge_id is not None:
        conditions.append(BadgeAwardRow.badge_id == badge_id)
    rows = await session.execute(
        select(BadgeAwardRow.badge_id, BadgeAwardRow.tier, func.count(func.distinct(BadgeAwardRow.user_id)))
        .where(*conditions)
        .group_by(BadgeAwardRow.badge_id, BadgeAwardRow.tier)
    )
    return {(badge_id, tier): count for badge_id, tier, count in rows}


async def user_badges(session: AsyncSession, user_id: str) -> list[BadgeAwardRow]:
    rows = await session.scalars(
        select(BadgeAwardRow).where(BadgeAwardRow.user_id == user_id).order_by(BadgeAwardRow.granted_at.desc())
    )
    return list(rows)


# What "held" means: granted and not revoked. Profiles join on it too (users.repository).
HELD = BadgeAwardRow.revoked_at.is_(None)
_HELD_COLUMNS = (BadgeAwardRow.user_id, BadgeAwardRow.badge_id, BadgeAwardRow.tier, BadgeAwardRow.granted_at)
# One user's (a profile, a flair): built once, as the forum asks for it many times a second.
_HELD_BY_ONE = select(*_HELD_COLUMNS).where(BadgeAwardRow.user_id == bindparam("user_id"), HELD)


async def held_badges_of(session: AsyncSession, user_ids: list[str]) -> list[tuple[str, str, str, datetime]]:
    """(user, badge, tier, granted_at) of held badges, for a page of users."""
    if len(user_ids) == 1:
        return [(u, b, t, g) for u, b, t, g in await session.execute(_HELD_BY_ONE, {"user_id": user_ids[0]})]
    found: list[tuple[str, str, str, datetime]] = []
    for batch in chunks(user_ids):
        rows = await session.execute(select(*_HELD_COLUMNS).where(one_of(session, BadgeAwardRow.user_id, batch), HELD))
        found.extend((u, b, t, g) for u, b, t, g in rows)
    return found


async def user_counters(session: AsyncSession, user_id: str) -> dict[CounterKey, int]:
    rows = await session.execute(
        select(CounterRow.owner, CounterRow.counter_id, CounterRow.scope, CounterRow.value).where(
            CounterRow.owner == user_id
        )
    )
    return {(o, c, s): v for o, c, s, v in rows}


async def user_streaks(session: AsyncSession, user_id: str) -> dict[str, Streak]:
    rows = await session.execute(
        select(StreakRow.counter_id, StreakRow.last_day, StreakRow.length, StreakRow.best).where(
            StreakRow.user_id == user_id
        )
    )
    return {c: Streak(last_day=d, length=n, best=b) for c, d, n, b in rows}


async def get_holding(session: AsyncSession, key: BadgeKey, *, for_update: bool = False) -> BadgeAwardRow | None:
    user_id, badge_id, tier, post = key
    query = select(BadgeAwardRow).where(
        and_(
            BadgeAwardRow.user_id == user_id,
            BadgeAwardRow.badge_id == badge_id,
            BadgeAwardRow.tier == tier,
            BadgeAwardRow.post == post,
        )
    )
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def put_holding(session: AsyncSession, holding: BadgeHolding) -> None:
    statement = upsert(session, table_of(BadgeAwardRow))
    statement = statement.on_conflict_do_update(
        index_elements=["user_id", "badge_id", "tier", "post"],
        set_={name: getattr(statement.excluded, name) for name in _BADGE_FIELDS[4:]},
    )
    await session.execute(statement, [dict(zip(_BADGE_FIELDS, _holding_values(holding), strict=True))])


async def holders(
    session: AsyncSession, badge_id: str, tier: str | None, after: tuple[datetime, str, str] | None, limit: int
) -> list[tuple[str, str, datetime, int]]:
    """(user, tier, since, posts) of the members holding a badge now, one row per member and tier, newest first:
    `since` is their first award of that tier, `posts` how many awards it is (a per-post badge's posts). `after`
    is the last row of the previous page (since, user, tier)."""
    conditions: list[ColumnElement[bool]] = [BadgeAwardRow.badge_id == badge_id, HELD]
    if tier is not None:
        conditions.append(BadgeAwardRow.tier == tier)
    grouped = (
        select(
            BadgeAwardRow.user_id.label("user_id"),
            BadgeAwardRow.tier.label("tier"),
            func.min(BadgeAwardRow.granted_at).label("since"),
            func.count().label("posts"),
        )
        .where(*conditions)
        .group_by(BadgeAwardRow.user_id, BadgeAwardRow.tier)
        .subquery()
    )
    query = select(grouped.c.user_id, grouped.c.tier, grouped.c.since, grouped.c.posts)
    if after is not None:
        since, user_id, after_tier = after
        query = query.where(
            or_(
                grouped.c.since < since,
                and_(grouped.c.since == since, grouped.c.user_id < user_id),
                and_(grouped.c.since == since, grouped.c.user_id == user_id, grouped.c.tier < after_tier),
            )
        )
    query = query.order_by(grouped.c.since.desc(), grouped.c.user_id.desc(), grouped.c.tier.desc()).limit(limit)
    return [(user_id, row_tier, since, posts) for user_id, row_tier, since, posts in await session.execute(query)]
