"""All SQL for ruleset versions and their publications, and the event reads of a preview."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.engine.state import EventInput
from rewards.events.models import StoredEvent
from rewards.rulesets.models import (
    UNFINISHED_JOBS,
    PublishJobStatus,
    RulesetPublicationRow,
    RulesetPublishJobRow,
    RulesetVersionRow,
)
from rewards.sql import dialect_name, upsert

# Held for the length of a publishing transaction, so two processes starting with a new rules file at once
# publish it once.
PUBLISH_LOCK_KEY = 7_426_003


async def version_of(session: AsyncSession, digest: str) -> int | None:
    return await session.scalar(select(RulesetVersionRow.version).where(RulesetVersionRow.digest == digest))


async def add_version(
    session: AsyncSession, *, name: str, digest: str, source: str, origin: str, now: datetime
) -> None:
    statement = upsert(session, RulesetVersionRow).on_conflict_do_nothing(index_elements=[RulesetVersionRow.digest])
    await session.execute(
        statement, [{"name": name, "digest": digest, "source": source, "origin": origin, "created_at": now}]
    )


async def get_version(session: AsyncSession, version: int) -> RulesetVersionRow | None:
    return await session.get(RulesetVersionRow, version)


async def list_versions(session: AsyncSession) -> list[RulesetVersionRow]:
    rows = await session.scalars(select(RulesetVersionRow).order_by(RulesetVersionRow.version.desc()))
    return list(rows)


async def lock_publications(session: AsyncSession) -> None:
    if dialect_name(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PUBLISH_LOCK_KEY})


async def try_lock_publications(session: AsyncSession) -> bool:
    """Whether no publication is being made anywhere (the lock is then this transaction's). SQLite has one
    writer at a time: a transaction that writes has it to itself."""
    if dialect_name(session) != "postgresql":
        return True
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": PUBLISH_LOCK_KEY}))


async def published_version(session: AsyncSession) -> int | None:
    """The version every process applies: the latest publication's. One indexed read (the drain's check)."""
    return await session.scalar(
        select(RulesetPublicationRow.version).order_by(RulesetPublicationRow.id.desc()).limit(1)
    )


async def last_publication(session: AsyncSession, *, via: str | None = None) -> RulesetPublicationRow | None:
    query = select(RulesetPublicationRow)
    if via is not None:
        query = query.where(RulesetPublicationRow.via == via)
    return await session.scalar(query.order_by(RulesetPublicationRow.id.desc()).limit(1))


async def add_publication(
    session: AsyncSession, *, version: int, now: datetime, published_by: str, comment: str, mode: str, via: str
) -> RulesetPublicationRow:
    row = RulesetPublicationRow(
        version=version, published_at=now, published_by=published_by, comment=comment, mode=mode, via=via
    )
    session.add(row)
    await session.flush()
    return row


async def list_publications(session: AsyncSession, *, limit: int) -> list[RulesetPublicationRow]:
    rows = await session.scalars(select(RulesetPublicationRow).order_by(RulesetPublicationRow.id.desc()).limit(limit))
    return list(rows)


async def count_events_since(session: AsyncSession, since: datetime | None) -> int:
    query = select(func.count()).select_from(StoredEvent)
    if since is not None:
        query = query.where(StoredEvent.time >= since)
    return int(await session.scalar(query) or 0)


async def first_seq_of_newest(session: AsyncSession, since: datetime | None, newest: int) -> int | None:
    """The seq from which on the log holds (at most) the `newest` latest events of the window (by seq)."""
    query = select(StoredEvent.seq)
    if since is not None:
        query = query.where(StoredEvent.time >= since)
    return await session.scalar(query.order_by(StoredEvent.seq.desc()).offset(newest - 1).limit(1))


async def events_page(
    session: AsyncSession, *, since: datetime | None, from_seq: int, after_seq: int, limit: int
) -> Sequence[EventInput]:
    """The window's events with seq >= from_seq and > after_seq, in the order they were applied."""
    query = select(
        StoredEvent.seq, StoredEvent.source, StoredEvent.event_id, StoredEvent.type, StoredEvent.time, StoredEvent.data
    ).where(StoredEvent.seq > after_seq, StoredEvent.seq >= from_seq)
    if since is not None:
        query = query.where(StoredEvent.time >= since)
    result = await session.execute(query.order_by(StoredEvent.seq).limit(limit))
    return [
        EventInput(seq=seq, source=source, id=event_id, type=type_, time=time, data=data)
        for seq, source, event_id, type_, time, data in result
    ]


# -- retroactive publications run in the background -----------------------------------------------------------------

QUEUED, RUNNING, DONE = PublishJobStatus.QUEUED, PublishJobStatus.RUNNING, PublishJobStatus.DONE


async def add_job(
    session: AsyncSession,
    *,
    version: int,
    requested_at: datetime,
    requested_by: str,
    comment: str,
    via: str,
    events_total: int,
) -> RulesetPublishJobRow | None:
    """The new job; None if another is queued or running (a unique index keeps it to one, whatever the race):
    the transaction is then unusable, and the caller refuses."""
    row = RulesetPublishJobRow(
        version=version,
        requested_at=requested_at,
        requested_by=requested_by,
        comment=comment,
        via=via,
        status=QUEUED,
        events_total=events_total,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        return None
    return row


async def unfinished_job(session: AsyncSession) -> RulesetPublishJobRow | None:
    """The queued or running job, if any (there is at most one)."""
    query = select(RulesetPublishJobRow).where(RulesetPublishJobRow.status.in_(UNFINISHED_JOBS))
    return await session.scalar(query.order_by(RulesetPublishJobRow.id).limit(1))


async def job_status(session: AsyncSession, job_id: int) -> str | None:
    return await session.scalar(select(RulesetPublishJobRow.status).where(RulesetPublishJobRow.id == job_id))


async def next_queued_job(session: AsyncSession) -> RulesetPublishJobRow | None:
    query = select(RulesetPublishJobRow).where(RulesetPublishJobRow.status == QUEUED)
    return await session.scalar(query.order_by(RulesetPublishJobRow.id).limit(1))


async def mark_job_running(session: AsyncSession, job_id: int, now: datetime, events_total: int) -> bool:
    """False if another process took it first."""
    claimed = await session.execute(
        update(RulesetPublishJobRow)
        .where(RulesetPublishJobRow.id == job_id, RulesetPublishJobRow.status == QUEUED)
        .values(status=RUNNING, started_at=now, events_total=events_total, events_done=None)
        .execution_options(synchronize_session=False)
    )
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


async def requeue_job(session: AsyncSession, job_id: int) -> bool:
    """Back in the queue, if still running: its process is stopping and its transaction was rolled back. False
    if it was not running (its transaction committed after all)."""
    requeued = await session.execute(
        update(RulesetPublishJobRow)
        .where(RulesetPublishJobRow.id == job_id, RulesetPublishJobRow.status == RUNNING)
        .values(status=QUEUED, started_at=None, events_done=None)
        .execution_options(synchronize_session=False)
    )
    return bool(requeued.rowcount == 1)  # type: ignore[attr-defined]


async def record_job_progress(session: AsyncSession, job_id: int, events_done: int) -> None:
    await session.execute(
        update(RulesetPublishJobRow)
        .where(RulesetPublishJobRow.id == job_id, RulesetPublishJobRow.status == RUNNING)
        .values(events_done=events_done)
        .execution_options(synchronize_session=False)
    )


async def finish_job(
    session: AsyncSession,
    job_id: int,
    *,
    now: datetime,
    replayed_events: int,
    failed_events: int,
    publication_id: int,
    action: str,
) -> bool:
    """False if the job is no longer running (someone marked it failed meanwhile)."""
    finished = await session.execute(
        update(RulesetPublishJobRow)
        .where(RulesetPublishJobRow.id == job_id, RulesetPublishJobRow.status == RUNNING)
        .values(
            status=DONE,
            finished_at=now,
            events_done=replayed_events + failed_events,
            replayed_events=replayed_events,
            failed_events=failed_events,
            publication_id=publication_id,
            action=action,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(finished.rowcount == 1)  # type: ignore[attr-defined]


async def end_jobs(
    session: AsyncSession,
    *,
    now: datetime,
    status: PublishJobStatus,
    error: str | None,
    among: tuple[PublishJobStatus, ...],
    job_id: int | None = None,
    started_before: datetime | None = None,
) -> list[RulesetPublishJobRow]:
    """Give `status` (failed, cancelled) to the job `job_id`, or to every job, whose status is one of `among`
    (and that started before `started_before`); the jobs changed. Read first, so that an idle check writes
    nothing; the update checks the condition again, after any wait for a lock."""
    condition: list[ColumnElement[bool]] = [RulesetPublishJobRow.status.in_(among)]
    if job_id is not None:
        condition.append(RulesetPublishJobRow.id == job_id)
    if started_before is not None:
        condition.append(RulesetPublishJobRow.started_at < started_before)
    if await session.scalar(select(RulesetPublishJobRow.id).where(*condition).limit(1)) is None:
        return []
    changed = await session.scalars(
        update(RulesetPublishJobRow)
        .where(*condition)
        .values(status=status, finished_at=now, error=error)
        .returning(RulesetPublishJobRow.id)
        .execution_options(synchronize_session=False)
    )
    ids = sorted(changed)
    if not ids:
        return []
    rows = await session.scalars(
        select(RulesetPublishJobRow)
        .where(RulesetPublishJobRow.id.in_(ids))
        .order_by(RulesetPublishJobRow.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def get_job(session: AsyncSession, job_id: int) -> RulesetPublishJobRow | None:
    return await session.get(RulesetPublishJobRow, job_id, populate_existing=True)


async def list_jobs(session: AsyncSession, *, limit: int) -> list[RulesetPublishJobRow]:
    rows = await session.scalars(select(RulesetPublishJobRow).order_by(RulesetPublishJobRow.id.desc()).limit(limit))
    return list(rows)
