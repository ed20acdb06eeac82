"""All SQL for the ledger and derived state: load what a batch of events needs, save what it changed."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.engine.state import Award, AwardStatus, CapBucket, LedgerEntry, UserState, WorkingState
from rewards.ledger.models import AwardRow, CapBucketRow, CounterRow, LedgerEntryRow, StreakRow, SuspensionRow
from rewards.sql import asyncpg_connection, chunks, dialect_name, json_records, table_of, upsert
from rewards.users.models import USER_COLUMNS, UserRow

DERIVED_TABLES = (LedgerEntryRow, AwardRow, CapBucketRow, SuspensionRow, UserRow, CounterRow, StreakRow)


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
    AwardRow.counts,
)
_USER_FIELDS = tuple(column.key for column in USER_COLUMNS)
_OPEN = AwardStatus.UNDONE.value


async def _rows(session: AsyncSession, postgres_sql: str, portable: Any, *arguments: Any) -> list[Any]:
    """Run a batch lookup: raw asyncpg on PostgreSQL (its records are cheap to read), SQLAlchemy elsewhere."""
    if dialect_name(session) == "postgresql":
        connection = await asyncpg_connection(session)
        return list(await connection.fetch(postgres_sql, *arguments))
    return list(await session.execute(portable))


async def load_users(session: AsyncSession, state: WorkingState, user_ids: Iterable[str]) -> None:
    """Users not in the state yet. (A user absent from the database is created by the engine when named.)"""
    missing = sorted({user_id for user_id in user_ids if user_id not in state.users})
    for batch in chunks(missing):
        rows = await _rows(
            session,
            f"SELECT {', '.join(_USER_FIELDS)} FROM users WHERE user_id = ANY($1::text[])",  # noqa: S608
            select(*USER_COLUMNS).where(UserRow.user_id.in_(batch)),
            batch,
        )
        for row in rows:
            state.users[row[0]] = UserState(*row)


async def load_open_awards(
    session: AsyncSession, state: WorkingState, *, slots: Iterable[str], subjects: Iterable[str]
) -> None:
    """Awards that still count or are suspended, in the given slots or about the given subjects."""
    columns = ", ".join(column.key for column in _AWARD_COLUMNS)
    wanted_slots = set(slots) - state.loaded_slots
    wanted_subjects = set(subjects) - state.loaded_subjects
    for column, keys in ((AwardRow.slot, wanted_slots), (AwardRow.subject, wanted_subjects)):
        for batch in chunks(sorted(keys)):
            rows = await _rows(
                session,
                f"SELECT {columns} FROM awards WHERE {column.key} = ANY($1::text[]) AND status <> '{_OPEN}'",  # noqa: S608
                select(*_AWARD_COLUMNS).where(column.in_(batch), AwardRow.status != _OPEN),
                batch,
            )
            for row in rows:
                values = list(row)
                values[11] = AwardStatus(values[11])
                values[13] = decode_counts(values[13])
                state.add_loaded_award(Award(*values))
    state.loaded_slots |= wanted_slots
    state.loaded_subjects |= wanted_subjects


async def load_buckets(session: AsyncSession, state: WorkingState, scopes: set[tuple[str, date]]) -> None:
    """Cap buckets of these (user, UTC day) pairs, unless the state has them already."""
    wanted = scopes - state.loaded_bucket_scopes
    users = sorted({user_id for user_id, _ in wanted})
    days = sorted({day for _, day in wanted})
    for batch in chunks(users):
        rows = await _rows(
            session,
            "SELECT user_id, cap_id, day, raw, credited FROM cap_buckets "
            "WHERE user_id = ANY($1::text[]) AND day = ANY($2::date[])",
            select(CapBucketRow.user_id, CapBucketRow.cap_id, CapBucketRow.day, CapBucketRow.raw, CapBucketRow.credited)
            .where(CapBucketRow.user_id.in_(batch))
            .where(CapBucketRow.day.in_(days)),
            batch,
            days,
        )
        for user_id, cap_id, day, raw, credited in rows:
            if (user_id, day) in wanted:
                state.buckets.setdefault((user_id, cap_id, day), CapBucket(raw=raw, credited=credited))
    state.loaded_bucket_scopes.update(wanted)


async def load_suspensions(session: AsyncSession, state: WorkingState, subjects: Iterable[str]) -> None:
    wanted = set(subjects) - state.loaded_suspension_subjects
    for batch in chunks(sorted(wanted)):
        rows = await _rows(
            session,
            "SELECT subject, event_type FROM suspensions WHERE subject = ANY($1::text[])",
            select(SuspensionRow.subject, SuspensionRow.event_type).where(SuspensionRow.subject.in_(batch)),
            batch,
        )
        state.suspensions.update((subject, event_type) for subject, event_type in rows)
    state.loaded_suspension_subjects |= wanted


_AWARD_FIELDS = tuple(column.key for column in _AWARD_COLUMNS)
_ENTRY_FIELDS = (
    "id",
    "user_id",
    "points",
    "kind",
    "award_id",
    "reverses_id",
    "event_seq",
    "rule_id",
    "ruleset_version",
    "reason",
    "occurred_at",
)


def _user_values(user: UserState) -> tuple[Any, ...]:
    return (
        user.user_id,
        user.reputation,
        user.suspended,
        user.suspended_until,
        user.first_seen_at,
        user.last_active_at,
        user.updated_seq,
    )


def _award_values(award: Award) -> tuple[Any, ...]:
    return (
        award.id,
        award.user_id,
        award.rule_id,
        award.event_seq,
        award.subject,
        award.slot,
        award.points,
        award.cap_id,
        award.cap_max,
        award.cap_day,
        award.label,
        award.status.value,
        award.occurred_at,
        encode_counts(award.counts),
    )


def encode_counts(counts: tuple[tuple[str, str | None, int], ...]) -> str | None:
    return orjson.dumps(counts).decode() if counts else None


def decode_counts(text: str | None) -> tuple[tuple[str, str | None, int], ...]:
    if not text:
        return ()
    return tuple((str(counter), scope, int(weight)) for counter, scope, weight in orjson.loads(text))


def _entry_values(entry: LedgerEntry) -> tuple[Any, ...]:
    return (
        entry.id,
        entry.user_id,
        entry.points,
        entry.kind.value,
        entry.award_id,
        entry.reverses_id,
        entry.event_seq,
        entry.rule_id,
        entry.ruleset_version,
        entry.reason,
        entry.occurred_at,
    )


@dataclass(frozen=True)
class LedgerChanges:
    """What a batch changed in the ledger tables, as plain rows (taken from the state before it changes again)."""

    users: list[tuple[Any, ...]]
    new_awards: list[tuple[Any, ...]]
    award_statuses: list[tuple[int, str]]
    buckets: list[tuple[str, str, date, int, int]]
    added_suspensions: list[tuple[str, str]]
    removed_suspensions: list[tuple[str, str]]
    entries: list[tuple[Any, ...]]


def changes(state: WorkingState) -> LedgerChanges:
    new_award_ids = set(state.new_awards)
    return LedgerChanges(
        users=[_user_values(state.users[user_id]) for user_id in sorted(state.changed_users)],
        new_awards=[_award_values(state.awards[award_id]) for award_id in state.new_awards],
        award_statuses=[
            (award_id, state.awards[award_id].status.value) for award_id in sorted(state.changed_awards - new_award_ids)
        ],
        buckets=[
            (key[0], key[1], key[2], state.buckets[key].raw, state.buckets[key].credited)
            for key in sorted(state.changed_buckets)
        ],
        added_suspensions=sorted(state.added_suspensions),
        removed_suspensions=sorted(state.removed_suspensions),
        entries=[_entry_values(entry) for entry in state.entries],
    )


async def save(session: AsyncSession, state: WorkingState) -> None:
    """Write everything a batch changed, one statement per table."""
    await save_changes(session, changes(state))


async def save_changes(session: AsyncSession, changes: LedgerChanges) -> None:
    if dialect_name(session) == "postgresql":
        await _save_postgres(await asyncpg_connection(session), changes)
    else:
        await _save_portable(session, changes)


async def _save_postgres(connection: Any, changes: LedgerChanges) -> None:
    # COPY for the append-only tables, and JSON rows for the rest: a few round trips per batch.
    if changes.users:
        await connection.execute(
            """
            INSERT INTO users (user_id, reputation, suspended, suspended_until, first_seen_at, last_active_at,
                               updated_seq)
            SELECT * FROM json_to_recordset($1::json) AS changed (
                user_id text, reputation int, suspended bool, suspended_until timestamptz,
                first_seen_at timestamptz, last_active_at timestamptz, updated_seq bigint)
            ON CONFLICT (user_id) DO UPDATE SET
                reputation = excluded.reputation, suspended = excluded.suspended,
                suspended_until = excluded.suspended_until, first_seen_at = excluded.first_seen_at,
                last_active_at = excluded.last_active_at, updated_seq = excluded.updated_seq
            """,
            json_records(_USER_FIELDS, changes.users),
        )
    if changes.new_awards:
        await connection.copy_records_to_table("awards", records=changes.new_awards, columns=_AWARD_FIELDS)
    if changes.award_statuses:
        await connection.execute(
            """
            UPDATE awards SET status = changed.status
            FROM json_to_recordset($1::json) AS changed (id bigint, status text)
            WHERE awards.id = changed.id
            """,
            json_records(("id", "status"), changes.award_statuses),
        )
    if changes.buckets:
        await connection.execute(
            """
            INSERT INTO cap_buckets (user_id, cap_id, day, raw, credited)
            SELECT * FROM json_to_recordset($1::json)
                AS changed (user_id text, cap_id text, day date, raw int, credited int)
            ON CONFLICT (user_id, cap_id, day) DO UPDATE SET raw = excluded.raw, credited = excluded.credited
            """,
            json_records(("user_id", "cap_id", "day", "raw", "credited"), changes.buckets),
        )
    if changes.added_suspensions:
        await connection.execute(
            """
            INSERT INTO suspensions (subject, event_type)
            SELECT * FROM json_to_recordset($1::json) AS added (subject text, event_type text)
            ON CONFLICT DO NOTHING
            """,
            json_records(("subject", "event_type"), changes.added_suspensions),
        )
    if changes.removed_suspensions:
        await connection.execute(
            """
            DELETE FROM suspensions USING json_to_recordset($1::json) AS lifted (subject text, event_type text)
            WHERE suspensions.subject = lifted.subject AND suspensions.event_type = lifted.event_type
            """,
            json_records(("subject", "event_type"), changes.removed_suspensions),
        )
    if changes.entries:
        await connection.copy_records_to_table("ledger_entries", records=changes.entries, columns=_ENTRY_FIELDS)


async def _save_portable(session: AsyncSession, changes: LedgerChanges) -> None:
    if changes.users:
        statement = upsert(session, table_of(UserRow))
        statement = statement.on_conflict_do_update(
            index_elements=["user_id"],
            set_={name: getattr(statement.excluded, name) for name in _USER_FIELDS[1:]},
        )
        await session.execute(statement, [dict(zip(_USER_FIELDS, row, strict=True)) for row in changes.users])
    if changes.new_awards:
        await session.execute(
            insert(table_of(AwardRow)), [dict(zip(_AWARD_FIELDS, row, strict=True)) for row in changes.new_awards]
        )
    if changes.award_statuses:
        table = table_of(AwardRow)
        await session.execute(
            update(table).where(table.c.id == bindparam("award_id")).values(status=bindparam("new_status")),
            [{"award_id": award_id, "new_status": status} for award_id, status in changes.award_statuses],
        )
    if changes.buckets:
        statement = upsert(session, table_of(CapBucketRow))
        statement = statement.on_conflict_do_update(
            index_elements=["user_id", "cap_id", "day"],
            set_={"raw": statement.excluded.raw, "credited": statement.excluded.credited},
        )
        await session.execute(
            statement,
            [
                {"user_id": user_id, "cap_id": cap_id, "day": day, "raw": raw, "credited": credited}
                for user_id, cap_id, day, raw, credited in changes.buckets
            ],
        )
    if changes.added_suspensions:
        await session.execute(
            upsert(session, table_of(SuspensionRow)).on_conflict_do_nothing(),
            [{"subject": subject, "event_type": kind} for subject, kind in changes.added_suspensions],
        )
    for batch in chunks(changes.removed_suspensions, 500):
        await session.execute(
            delete(SuspensionRow).where(tuple_(SuspensionRow.subject, SuspensionRow.event_type).in_(batch))
        )
    if changes.entries:
        await session.execute(
            insert(table_of(LedgerEntryRow)), [dict(zip(_ENTRY_FIELDS, row, strict=True)) for row in changes.entries]
        )


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
