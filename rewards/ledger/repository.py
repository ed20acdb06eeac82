"""All SQL for the ledger and derived state: load what a batch of events needs, save what it changed."""

from collections.abc import Iterable
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.engine.state import Award, AwardStatus, CapBucket, LedgerEntry, UserState, WorkingState
from rewards.ledger.models import AwardRow, CapBucketRow, LedgerEntryRow, SuspensionRow
from rewards.rulesets.models import ApplyLockRow
from rewards.sql import chunks, in_values, upsert
from rewards.users.models import UserRow

DERIVED_TABLES = (LedgerEntryRow, AwardRow, CapBucketRow, SuspensionRow, UserRow)


async def lock_apply(session: AsyncSession, holder: str, now: datetime) -> None:
    """Take the apply lock for this transaction: a write to one row, which PostgreSQL and SQLite both serialise."""
    await session.execute(update(ApplyLockRow).where(ApplyLockRow.id == 1).values(holder=holder, taken_at=now))


async def load_users(session: AsyncSession, state: WorkingState, user_ids: Iterable[str]) -> None:
    missing = [user_id for user_id in user_ids if user_id not in state.users]
    for batch in chunks(missing):
        rows = await session.execute(
            select(
                UserRow.user_id,
                UserRow.reputation,
                UserRow.suspended,
                UserRow.suspended_until,
                UserRow.first_seen_at,
                UserRow.last_active_at,
                UserRow.updated_seq,
            ).where(in_values(session, UserRow.user_id, batch))
        )
        for row in rows:
            state.users[row.user_id] = UserState(*row)


_AWARD_COLUMNS = (
    AwardRow.id,
    AwardRow.user_id,
    AwardRow.rule_id,
    AwardRow.event_seq,
    AwardRow.subject,
    AwardRow.slot,
    AwardRow.points,
    AwardRow.cap_id,
    AwardRow.cap_max,
    AwardRow.cap_day,
    AwardRow.label,
    AwardRow.status,
    AwardRow.occurred_at,
)


async def load_open_awards(
    session: AsyncSession, state: WorkingState, *, slots: Iterable[str], subjects: Iterable[str]
) -> None:
    """Awards that still count or are suspended, in the given slots or about the given subjects."""
    for column, keys in ((AwardRow.slot, slots), (AwardRow.subject, subjects)):
        for batch in chunks(sorted(set(keys))):
            rows = await session.execute(
                select(*_AWARD_COLUMNS).where(in_values(session, column, batch), AwardRow.status != AwardStatus.UNDONE)
            )
            for row in rows:
                values = list(row)
                values[11] = AwardStatus(values[11])
                state.add_loaded_award(Award(*values))


async def load_buckets(session: AsyncSession, state: WorkingState, user_ids: set[str], days: set[date]) -> None:
    if not user_ids or not days:
        return
    for batch in chunks(sorted(user_ids)):
        rows = await session.execute(
            select(
                CapBucketRow.user_id,
                CapBucketRow.cap_id,
                CapBucketRow.day,
                CapBucketRow.raw,
                CapBucketRow.credited,
            )
            .where(in_values(session, CapBucketRow.user_id, batch))
            .where(CapBucketRow.day.in_(sorted(days)))
        )
        for user_id, cap_id, day, raw, credited in rows:
            state.buckets.setdefault((user_id, cap_id, day), CapBucket(raw=raw, credited=credited))


async def load_suspensions(session: AsyncSession, state: WorkingState, subjects: Iterable[str]) -> None:
    for batch in chunks(sorted(set(subjects))):
        rows = await session.execute(
            select(SuspensionRow.subject, SuspensionRow.event_type).where(
                in_values(session, SuspensionRow.subject, batch)
            )
        )
        state.suspensions.update((subject, event_type) for subject, event_type in rows)


async def save(session: AsyncSession, state: WorkingState) -> None:
    """Write everything the batch changed: inserts for new rows, one statement per table for changes."""
    if state.changed_users:
        statement = upsert(session, UserRow)
        statement = statement.on_conflict_do_update(
            index_elements=[UserRow.user_id],
            set_={
                name: getattr(statement.excluded, name)
                for name in (
                    "reputation",
                    "suspended",
                    "suspended_until",
                    "first_seen_at",
                    "last_active_at",
                    "updated_seq",
                )
            },
        )
        await session.execute(statement, [asdict(state.users[user_id]) for user_id in sorted(state.changed_users)])
    new_award_ids = set(state.new_awards)
    if state.new_awards:
        await session.execute(insert(AwardRow), [_award_row(state.awards[i]) for i in state.new_awards])
    changed = sorted(state.changed_awards - new_award_ids)
    if changed:
        await session.execute(
            update(AwardRow),
            [{"id": award_id, "status": str(state.awards[award_id].status)} for award_id in changed],
        )
    if state.changed_buckets:
        statement = upsert(session, CapBucketRow)
        statement = statement.on_conflict_do_update(
            index_elements=[CapBucketRow.user_id, CapBucketRow.cap_id, CapBucketRow.day],
            set_={"raw": statement.excluded.raw, "credited": statement.excluded.credited},
        )
        await session.execute(
            statement,
            [
                {
                    "user_id": key[0],
                    "cap_id": key[1],
                    "day": key[2],
                    "raw": bucket.raw,
                    "credited": bucket.credited,
                }
                for key in sorted(state.changed_buckets)
                for bucket in (state.buckets[key],)
            ],
        )
    if state.added_suspensions:
        statement = upsert(session, SuspensionRow).on_conflict_do_nothing()
        await session.execute(
            statement,
            [{"subject": subject, "event_type": kind} for subject, kind in sorted(state.added_suspensions)],
        )
    for batch in chunks(sorted(state.removed_suspensions), 500):
        await session.execute(
            delete(SuspensionRow).where(tuple_(SuspensionRow.subject, SuspensionRow.event_type).in_(batch))
        )
    if state.entries:
        await session.execute(insert(LedgerEntryRow), [_entry_row(entry) for entry in state.entries])


def _award_row(award: Award) -> dict[str, Any]:
    row = asdict(award)
    row["status"] = str(award.status)
    return row


def _entry_row(entry: LedgerEntry) -> dict[str, Any]:
    row = asdict(entry)
    row["kind"] = str(entry.kind)
    return row


async def clear_derived_state(session: AsyncSession) -> None:
    """Empty every table that replay rebuilds from the event log."""
    for table in DERIVED_TABLES:
        await session.execute(delete(table))


async def entries_for_event(session: AsyncSession, event_seq: int) -> list[LedgerEntryRow]:
    from rewards.engine.state import ENTRY_IDS_PER_EVENT

    low = event_seq * ENTRY_IDS_PER_EVENT
    rows = await session.scalars(
        select(LedgerEntryRow)
        .where(LedgerEntryRow.id > low, LedgerEntryRow.id < low + ENTRY_IDS_PER_EVENT)
        .order_by(LedgerEntryRow.id)
    )
    return list(rows)


async def history(session: AsyncSession, user_id: str, *, before_id: int | None, limit: int) -> list[LedgerEntryRow]:
    query = select(LedgerEntryRow).where(LedgerEntryRow.user_id == user_id)
    if before_id is not None:
        query = query.where(LedgerEntryRow.id < before_id)
    rows = await session.scalars(query.order_by(LedgerEntryRow.id.desc()).limit(limit))
    return list(rows)


async def ledger_totals(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(LedgerEntryRow.user_id, func.sum(LedgerEntryRow.points)).group_by(LedgerEntryRow.user_id)
    )
    return {user_id: int(total) for user_id, total in rows}
