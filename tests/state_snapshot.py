"""Read the whole derived state of a database, to compare two ways of reaching it."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.badges import repository as badges_repository
from rewards.leaderboards.models import LeaderboardScoreRow
from rewards.ledger.models import AwardRow, CapBucketRow, CounterRow, LedgerEntryRow, StreakRow, SuspensionRow
from rewards.users.models import UserRow


async def snapshot(session: AsyncSession) -> dict[str, Any]:
    users = await session.execute(
        select(UserRow.user_id, UserRow.reputation, UserRow.suspended).order_by(UserRow.user_id)
    )
    entries = await session.execute(
        select(
            LedgerEntryRow.id,
            LedgerEntryRow.user_id,
            LedgerEntryRow.points,
            LedgerEntryRow.kind,
            LedgerEntryRow.reverses_id,
            LedgerEntryRow.rule_id,
            LedgerEntryRow.reason,
        ).order_by(LedgerEntryRow.id)
    )
    awards = await session.execute(select(AwardRow.id, AwardRow.status, AwardRow.user_id).order_by(AwardRow.id))
    buckets = await session.execute(
        select(CapBucketRow.user_id, CapBucketRow.day, CapBucketRow.raw, CapBucketRow.credited).order_by(
            CapBucketRow.user_id, CapBucketRow.day
        )
    )
    suspensions = await session.execute(
        select(SuspensionRow.subject, SuspensionRow.event_type).order_by(SuspensionRow.subject)
    )
    # Counters, badges and boards too: a batch written twice leaves absolute values (reputation) right, but
    # adds its counter and board changes twice.
    recognition = await recognition_rows(session)
    # Rows at zero are left out: a score that went up and back down in one batch leaves no row, across two
    # batches a row at zero. Neither is shown (boards show scores above zero), and a replay may keep either.
    board = LeaderboardScoreRow
    scores = await session.execute(
        select(board.board, board.period, board.user_id, board.score, board.reached_at)
        .where(board.score != 0)
        .order_by(board.board, board.period, board.user_id)
    )
    return {
        "users": [tuple(row) for row in users],
        "entries": [tuple(row) for row in entries],
        "awards": [tuple(row) for row in awards],
        "buckets": [tuple(row) for row in buckets],
        "suspensions": [tuple(row) for row in suspensions],
        **recognition,
        "scores": [tuple(row) for row in scores],
    }


async def recognition_rows(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored counter, streak and badge award (held or revoked, by rule or by hand), in a stable order."""
    counters = await session.execute(
        select(CounterRow.owner, CounterRow.counter_id, CounterRow.scope, CounterRow.value).order_by(
            CounterRow.owner, CounterRow.counter_id, CounterRow.scope
        )
    )
    streaks = await session.execute(
        select(StreakRow.user_id, StreakRow.counter_id, StreakRow.last_day, StreakRow.length, StreakRow.best)
    )
    badges = await session.execute(select(*badges_repository.BADGE_COLUMNS))
    return {
        # A counter that went back to 0 and one never written are the same to a reader.
        "counters": [tuple(row) for row in counters if row.value != 0],
        "streaks": sorted(tuple(row) for row in streaks),
        "badges": sorted(tuple(row) for row in badges),
    }


def reputation_from_entries(state: dict[str, Any]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for _id, user_id, points, *_ in state["entries"]:
        totals[user_id] = totals.get(user_id, 0) + points
    return totals
