"""What the renewal schedule reads: members within reach of a renewing rank, with their monthly counts."""

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.engine.ranks import renewal_counter_ids, renewal_floor
from rewards.engine.ruleset import Rank
from rewards.events.models import StoredEvent
from rewards.ledger.models import CounterRow
from rewards.sql import chunks, one_of
from rewards.users.models import UserRow

Counts = dict[tuple[str, str, str], int]


async def members_from(
    session: AsyncSession, min_reputation: int, after: str | None, limit: int
) -> list[tuple[str, int]]:
    """(user, reputation) of members with at least `min_reputation`, by user id, after `after` (a page)."""
    statement = (
        select(UserRow.user_id, UserRow.reputation)
        .where(UserRow.reputation >= min_reputation)
        .order_by(UserRow.user_id)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(UserRow.user_id > after)
    return [(user_id, reputation) for user_id, reputation in await session.execute(statement)]


async def window_counts(session: AsyncSession, user_ids: list[str], counter_ids: Iterable[str]) -> Counts:
    """These members' counters under these ids (the monthly counts and the as-of month), as the engine keys them."""
    wanted = sorted(set(counter_ids))
    found: Counts = {}
    for batch in chunks(user_ids):
        rows = await session.execute(
            select(CounterRow.owner, CounterRow.counter_id, CounterRow.scope, CounterRow.value).where(
                one_of(session, CounterRow.owner, batch), CounterRow.counter_id.in_(wanted)
            )
        )
        found.update({(owner, counter_id, scope): value for owner, counter_id, scope, value in rows})
    return found


async def stored_ids(session: AsyncSession, source: str, event_ids: list[str]) -> set[str]:
    """Which of these event ids `source` has already stored."""
    found: set[str] = set()
    for batch in chunks(event_ids):
        rows = await session.scalars(
            select(StoredEvent.event_id).where(
                StoredEvent.source == source, one_of(session, StoredEvent.event_id, batch)
            )
        )
        found.update(rows)
    return found


async def windows(session: AsyncSession, ranks: Sequence[Rank], members: Iterable[tuple[str, int]]) -> Counts:
    """The renewal windows of these (user, reputation), for pages that show the title the engine holds them to
    (`standing(..., renewed=)`): one round trip for all of them (per chunk of ids), none when no rank must be
    renewed or none of them has the reputation of one (their title cannot lapse)."""
    floor = renewal_floor(ranks)
    reaching = [] if floor is None else [user_id for user_id, reputation in members if reputation >= floor]
    if not reaching:
        return {}
    return await window_counts(session, reaching, renewal_counter_ids(ranks))
