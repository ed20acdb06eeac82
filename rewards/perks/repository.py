"""All SQL for perks: grants through their lifecycle, seat locks, code pools."""

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.badges.models import BadgeAwardRow
from rewards.ledger.models import CounterRow
from rewards.perks.models import OPEN_STATUSES, PerkCodeRow, PerkGrantRow, PerkSettingRow
from rewards.sql import chunks, dialect_name, one_of, table_of, upsert
from rewards.users.models import UserRow

SEAT_STATUSES = ("pending_approval", "offered", "active")


async def lock_perk(session: AsyncSession, perk_id: str, now: datetime) -> PerkSettingRow:
    """Lock the perk's settings row for this transaction: seat allocation for one perk is one at a time."""
    await session.execute(
        upsert(session, table_of(PerkSettingRow)).on_conflict_do_nothing(),
        [{"perk_id": perk_id, "seats": None, "updated_at": now}],
    )
    row = (
        await session.scalars(select(PerkSettingRow).where(PerkSettingRow.perk_id == perk_id).with_for_update())
    ).one()
    return row


async def seat_overrides(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(PerkSettingRow.perk_id, PerkSettingRow.seats).where(PerkSettingRow.seats.is_not(None))
    )
    return {perk_id: seats for perk_id, seats in rows if seats is not None}


async def seats_taken(session: AsyncSession, perk_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(PerkGrantRow)
        .where(PerkGrantRow.perk_id == perk_id, PerkGrantRow.status.in_(SEAT_STATUSES))
    )
    return int(count or 0)


async def grants_of_users(session: AsyncSession, user_ids: Sequence[str]) -> list[PerkGrantRow]:
    found: list[PerkGrantRow] = []
    for batch in chunks(sorted(set(user_ids))):
        found.extend(await session.scalars(select(PerkGrantRow).where(one_of(session, PerkGrantRow.user_id, batch))))
    return found


async def grants_of_user(session: AsyncSession, user_id: str) -> list[PerkGrantRow]:
    rows = await session.scalars(
        select(PerkGrantRow).where(PerkGrantRow.user_id == user_id).order_by(PerkGrantRow.id.desc())
    )
    return list(rows)


async def users_with_open_grants(session: AsyncSession, user_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for batch in chunks(user_ids):
        rows = await session.scalars(
            select(PerkGrantRow.user_id).where(
                one_of(session, PerkGrantRow.user_id, batch), PerkGrantRow.status.in_(OPEN_STATUSES)
            )
        )
        found.update(rows)
    return found


async def open_grants_made_by_rules(session: AsyncSession) -> list[PerkGrantRow]:
    """Every open grant the rules made (not one given by hand or as a prize), oldest first. Seats are scarce and
    waitlists short, so they are few."""
    rows = await session.scalars(
        select(PerkGrantRow)
        .where(PerkGrantRow.status.in_(OPEN_STATUSES), PerkGrantRow.source == "rule")
        .order_by(PerkGrantRow.id)
    )
    return list(rows)


async def open_rule_grants_of(session: AsyncSession, perk_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(user, perk) of the open grants the rules made of these perks, by user: those a renewal window keeps."""
    if not perk_ids:
        return []
    rows = await session.execute(
        select(PerkGrantRow.user_id, PerkGrantRow.perk_id)
        .where(
            PerkGrantRow.perk_id.in_(sorted(set(perk_ids))),
            PerkGrantRow.status.in_(OPEN_STATUSES),
            PerkGrantRow.source == "rule",
        )
        .order_by(PerkGrantRow.user_id, PerkGrantRow.perk_id)
    )
    return [(user_id, perk_id) for user_id, perk_id in rows]


async def open_grant(session: AsyncSession, perk_id: str, user_id: str) -> PerkGrantRow | None:
    """The user's open grant of the perk, read afresh (not from the session's identity map) and locked."""
    query = select(PerkGrantRow).where(
        PerkGrantRow.perk_id == perk_id, PerkGrantRow.user_id == user_id, PerkGrantRow.status.in_(OPEN_STATUSES)
    )
    query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(query)).first()


async def get_grant(session: AsyncSession, grant_id: int) -> PerkGrantRow:
    query = select(PerkGrantRow).where(PerkGrantRow.id == grant_id)
    query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(query)).one()


async def has_grant_in(session: AsyncSession, perk_id: str, user_id: str, statuses: Iterable[str]) -> bool:
    found = await session.scalar(
        select(PerkGrantRow.id)
        .where(PerkGrantRow.perk_id == perk_id, PerkGrantRow.user_id == user_id, PerkGrantRow.status.in_(statuses))
        .limit(1)
    )
    return found is not None


async def add_grant(session: AsyncSession, grant: PerkGrantRow) -> PerkGrantRow:
    session.add(grant)
    await session.flush()
    return grant


async def waitlisted(session: AsyncSession, perk_id: str, limit: int | None = None) -> list[PerkGrantRow]:
    query = (
        select(PerkGrantRow)
        .where(PerkGrantRow.perk_id == perk_id, PerkGrantRow.status == "waitlisted")
        .order_by(PerkGrantRow.queued_at, PerkGrantRow.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(await session.scalars(query))


async def waitlist_position(session: AsyncSession, grant: PerkGrantRow) -> int:
    ahead = await session.scalar(
        select(func.count())
        .select_from(PerkGrantRow)
        .where(
            PerkGrantRow.perk_id == grant.perk_id,
            PerkGrantRow.status == "waitlisted",
            or_(
                PerkGrantRow.queued_at < grant.queued_at,
                and_(PerkGrantRow.queued_at == grant.queued_at, PerkGrantRow.id < grant.id),
            ),
        )
    )
    return int(ahead or 0) + 1


async def due_offers(session: AsyncSession, now: datetime) -> list[PerkGrantRow]:
    query = select(PerkGrantRow).where(PerkGrantRow.status == "offered", PerkGrantRow.respond_by <= now)
    return list(await session.scalars(query.order_by(PerkGrantRow.id)))


async def due_expiries(session: AsyncSession, now: datetime) -> list[PerkGrantRow]:
    query = select(PerkGrantRow).where(PerkGrantRow.status == "active", PerkGrantRow.expires_at <= now)
    return list(await session.scalars(query.order_by(PerkGrantRow.id)))


async def active_of_suspended(session: AsyncSession) -> list[PerkGrantRow]:
    query = (
        select(PerkGrantRow)
        .join(UserRow, UserRow.user_id == PerkGrantRow.user_id)
        .where(PerkGrantRow.status.in_(OPEN_STATUSES), UserRow.suspended.is_(True))
    )
    return list(await session.scalars(query.order_by(PerkGrantRow.id)))


async def take_code(session: AsyncSession, perk_id: str, grant_id: int) -> str | None:
    """Hand one free code of the pool to a grant; None when the pool is empty."""
    query = select(PerkCodeRow).where(PerkCodeRow.perk_id == perk_id, PerkCodeRow.grant_id.is_(None))
    query = query.order_by(PerkCodeRow.id).limit(1)
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    code = (await session.scalars(query)).first()
    if code is None:
        return None
    code.grant_id = grant_id
    await session.flush()
    return code.code


async def add_codes(session: AsyncSession, perk_id: str, codes: Sequence[str], now: datetime) -> int:
    before = await codes_left(session, perk_id)
    for batch in chunks(codes, 1000):
        await session.execute(
            upsert(session, table_of(PerkCodeRow)).on_conflict_do_nothing(),
            [{"perk_id": perk_id, "code": code, "uploaded_at": now, "grant_id": None} for code in batch],
        )
    return await codes_left(session, perk_id) - before


async def codes_left(session: AsyncSession, perk_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(PerkCodeRow)
        .where(PerkCodeRow.perk_id == perk_id, PerkCodeRow.grant_id.is_(None))
    )
    return int(count or 0)


async def active_without_code(session: AsyncSession, perk_id: str) -> list[PerkGrantRow]:
    query = select(PerkGrantRow).where(
        PerkGrantRow.perk_id == perk_id, PerkGrantRow.status == "active", PerkGrantRow.code.is_(None)
    )
    return list(await session.scalars(query.order_by(PerkGrantRow.activated_at, PerkGrantRow.id)))


async def status_counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    rows = await session.execute(
        select(PerkGrantRow.perk_id, PerkGrantRow.status, func.count()).group_by(
            PerkGrantRow.perk_id, PerkGrantRow.status
        )
    )
    return {(perk_id, status): count for perk_id, status, count in rows}


async def set_seats(session: AsyncSession, perk_id: str, seats: int | None, now: datetime) -> None:
    await lock_perk(session, perk_id, now)
    await session.execute(
        update(PerkSettingRow).where(PerkSettingRow.perk_id == perk_id).values(seats=seats, updated_at=now)
    )


async def grants_of_perk(session: AsyncSession, perk_id: str, statuses: Sequence[str]) -> list[PerkGrantRow]:
    query = select(PerkGrantRow).where(PerkGrantRow.perk_id == perk_id, PerkGrantRow.status.in_(statuses))
    return list(await session.scalars(query.order_by(PerkGrantRow.queued_at, PerkGrantRow.id)))


# -- profiles for eligibility, when the engine's working state is not at hand ------------------------------


async def profile_rows(
    session: AsyncSession, user_ids: Sequence[str]
) -> tuple[list[UserRow], list[tuple[str, str, int]], list[tuple[str, str, str]]]:
    users: list[UserRow] = []
    counters: list[tuple[str, str, int]] = []
    badges: list[tuple[str, str, str]] = []
    for batch in chunks(sorted(set(user_ids))):
        users.extend(await session.scalars(select(UserRow).where(one_of(session, UserRow.user_id, batch))))
        rows = await session.execute(
            select(CounterRow.owner, CounterRow.counter_id, CounterRow.value).where(
                one_of(session, CounterRow.owner, batch), CounterRow.scope == ""
            )
        )
        counters.extend((o, c, v) for o, c, v in rows)
        held = await session.execute(
            select(BadgeAwardRow.user_id, BadgeAwardRow.badge_id, BadgeAwardRow.tier).where(
                one_of(session, BadgeAwardRow.user_id, batch), BadgeAwardRow.revoked_at.is_(None)
            )
        )
        badges.extend((u, b, t) for u, b, t in held)
    return users, counters, badges


async def candidates(
    session: AsyncSession, min_reputation: int, limit: int, after: tuple[int, str] | None = None
) -> list[tuple[str, int]]:
    """(user, reputation) of users who might be eligible for a perk, highest reputation first; `after` (the
    last page's last reputation and user) gives the next page."""
    statement = (
        select(UserRow.user_id, UserRow.reputation)
        .where(UserRow.reputation >= min_reputation, UserRow.suspended.is_(False))
        .order_by(UserRow.reputation.desc(), UserRow.user_id)
        .limit(limit)
    )
    if after is not None:
        reputation, user_id = after
        statement = statement.where(
            or_(UserRow.reputation < reputation, and_(UserRow.reputation == reputation, UserRow.user_id > user_id))
        )
    return [(user_id, reputation) for user_id, reputation in await session.execute(statement)]
