"""All SQL for the event log."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.db import SQLITE_BUSY_TIMEOUT_MS, lock_wait_ended
from rewards.engine.state import EventInput
from rewards.events.models import ApplyCursor, EventOutcome, StoredEvent
from rewards.sql import asyncpg_connection, dialect_name, json_text, table_of, upsert

# Held for the length of an intake transaction, so that sequence order equals commit order: the applier can
# then never skip an event that a slower transaction committed late.
INTAKE_LOCK_KEY = 7_426_002


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Store events; returns the seq of each new (source, id). Redeliveries are left as they were."""
    if dialect_name(session) == "postgresql":
        # One JSON text in, (seq, source, id) out: SQLAlchemy's executemany would process every row's
        # parameters in Python (its JSON type serialises with the json module), about 50 µs an event.
        connection = await asyncpg_connection(session)
        await connection.execute("SELECT pg_advisory_xact_lock($1)", INTAKE_LOCK_KEY)
        stored = await connection.fetch(
            """
            INSERT INTO events (source, event_id, type, time, data, received_at)
            SELECT source, event_id, type, time, data, received_at
            FROM ROWS FROM (
                json_to_recordset($1::json)
                AS (source text, event_id text, type text, time timestamptz, data json, received_at timestamptz)
            ) WITH ORDINALITY AS event (source, event_id, type, time, data, received_at, position)
            ORDER BY position
            ON CONFLICT (source, event_id) DO NOTHING
            RETURNING seq, source, event_id
            """,
            json_text(list(rows)),
        )
        return {(source, event_id): seq for seq, source, event_id in stored}
    statement = (
        upsert(session, StoredEvent)
        .on_conflict_do_nothing(index_elements=[StoredEvent.source, StoredEvent.event_id])
        .returning(StoredEvent.seq, StoredEvent.source, StoredEvent.event_id)
    )
    result = await session.execute(statement, list(rows))
    return {(source, event_id): seq for seq, source, event_id in result}


class CursorBusy(Exception):
    """The apply cursor stayed held longer than the caller would wait (a replay holds it until it commits)."""


# How long a caller that must not hang behind a replay waits for the apply cursor: longer than a batch holds it
# (well under a second at the default size), far shorter than a replay (minutes).
BATCH_WAIT_MS = 5_000


async def take_cursor(
    session: AsyncSession, holder: str, now: datetime, *, wait_ms: int | None = None
) -> tuple[int, str | None]:
    """Lock the apply cursor for this transaction (other appliers wait); the last seq applied, and by whom.

    A write to one row: PostgreSQL and SQLite both serialise it, so one applier works at a time. With
    `wait_ms`, CursorBusy after waiting that long (a request that should not hang behind a replay); the
    transaction is then unusable.
    """
    statement = (
        update(ApplyCursor)
        .where(ApplyCursor.id == 1)
        .values(holder=holder, taken_at=now)
        .returning(ApplyCursor.applied_through, ApplyCursor.last_writer)
    )
    if wait_ms is None:
        row = (await session.execute(statement)).first()
    else:
        row = await _take_within(session, statement, wait_ms)
    if row is None:
        raise RuntimeError("the apply_cursor row is missing: run `rewards migrate`")
    return int(row[0]), row[1]


async def _take_within(session: AsyncSession, statement: Any, wait_ms: int) -> Any:
    postgresql = dialect_name(session) == "postgresql"
    # Both settings are this connection's: PostgreSQL's for this transaction only, SQLite's put back after.
    setting = f"SET LOCAL lock_timeout = {int(wait_ms)}" if postgresql else f"PRAGMA busy_timeout = {int(wait_ms)}"
    await session.execute(text(setting))
    try:
        row = (await session.execute(statement)).first()
    except DBAPIError as error:
        if lock_wait_ended(error):
            raise CursorBusy from None
        raise
    finally:
        if not postgresql:
            await session.execute(text(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"))
    if postgresql:
        await session.execute(text("SET LOCAL lock_timeout = DEFAULT"))
    return row


async def advance_cursor(session: AsyncSession, applied_through: int, writer: str) -> None:
    await session.execute(
        update(ApplyCursor).where(ApplyCursor.id == 1).values(applied_through=applied_through, last_writer=writer)
    )


async def events_after(session: AsyncSession, after_seq: int, limit: int) -> list[EventInput]:
    """The next events to apply, in order."""
    if dialect_name(session) == "postgresql":
        connection = await asyncpg_connection(session)
        rows = await connection.fetch(
            "SELECT seq, source, event_id, type, time, data::text FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
            after_seq,
            limit,
        )
        return [
            EventInput(seq=seq, source=source, id=event_id, type=type_, time=time, data=orjson.loads(data))
            for seq, source, event_id, type_, time, data in rows
        ]
    result = await session.execute(
        select(
            StoredEvent.seq,
            StoredEvent.source,
            StoredEvent.event_id,
            StoredEvent.type,
            StoredEvent.time,
            StoredEvent.data,
        )
        .where(StoredEvent.seq > after_seq)
        .order_by(StoredEvent.seq)
        .limit(limit)
    )
    return [
        EventInput(seq=seq, source=source, id=event_id, type=type_, time=time, data=data)
        for seq, source, event_id, type_, time, data in result
    ]


Outcome = tuple[int, str, str | None, list[str], list[str]]  # seq, status, error, rules fired, notes


async def record_outcomes(
    session: AsyncSession, outcomes: Sequence[Outcome], ruleset_version: int, now: datetime
) -> None:
    if not outcomes:
        return
    if dialect_name(session) == "postgresql":
        connection = await asyncpg_connection(session)
        await connection.copy_records_to_table(
            "event_outcomes",
            columns=("seq", "status", "error", "applied_at", "ruleset_version", "rules_fired", "notes"),
            records=[
                (seq, status, error, now, ruleset_version, orjson.dumps(fired).decode(), orjson.dumps(notes).decode())
                for seq, status, error, fired, notes in outcomes
            ],
        )
        return
    await session.execute(
        insert(table_of(EventOutcome)),
        [
            {
                "seq": seq,
                "status": status,
                "error": error,
                "applied_at": now,
                "ruleset_version": ruleset_version,
                "rules_fired": fired,
                "notes": notes,
            }
            for seq, status, error, fired, notes in outcomes
        ],
    )


# Beyond this many, the backlog is not counted row by row but estimated from the sequence (an upper bound:
# a redelivered event also uses up a sequence number).
EXACT_PENDING_LIMIT = 10_000


async def pending_count(session: AsyncSession) -> int:
    # Read the cursor first: with its value as a parameter the count is a range scan over the backlog only.
    applied_through = await session.scalar(select(ApplyCursor.applied_through).where(ApplyCursor.id == 1)) or 0
    backlog = select(StoredEvent.seq).where(StoredEvent.seq > applied_through).limit(EXACT_PENDING_LIMIT + 1)
    count = int(await session.scalar(select(func.count()).select_from(backlog.subquery())) or 0)
    if count <= EXACT_PENDING_LIMIT:
        return count
    newest = await session.scalar(select(func.max(StoredEvent.seq)))
    return int(newest or 0) - applied_through


async def has_pending(session: AsyncSession, up_to_seq: int | None = None) -> bool:
    applied_through = await session.scalar(select(ApplyCursor.applied_through).where(ApplyCursor.id == 1))
    query = select(StoredEvent.seq).where(StoredEvent.seq > (applied_through or 0))
    if up_to_seq is not None:
        query = query.where(StoredEvent.seq <= up_to_seq)
    return (await session.scalar(query.limit(1))) is not None


async def get_event(
    session: AsyncSession, source: str, event_id: str
) -> tuple[StoredEvent, EventOutcome | None] | None:
    row = (
        await session.execute(
            select(StoredEvent, EventOutcome)
            .outerjoin(EventOutcome, EventOutcome.seq == StoredEvent.seq)
            .where(StoredEvent.source == source, StoredEvent.event_id == event_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def restart_from_the_beginning(session: AsyncSession, writer: str) -> None:
    """Before a replay: forget every outcome; every event will be applied again."""
    await session.execute(delete(EventOutcome))
    await advance_cursor(session, 0, writer)


async def question_author(session: AsyncSession, source: str, question_id: str) -> str | None:
    """Who posted a question, from its `question.posted` event (for adapters whose payloads do not say)."""
    value = await session.scalar(
        select(StoredEvent.data["post"]["author"].as_string())
        .where(StoredEvent.source == source, StoredEvent.type == "question.posted")
        .where(StoredEvent.data["post"]["id"].as_string() == question_id)
        .limit(1)
    )
    return str(value) if value is not None else None
