"""Replaying the log, and publishing rules: from now on, or retroactively (the log replayed under them, in the
publication's own transaction), in the foreground (API, console, CLI) or as a queued job in the background."""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.apply.applier import Applier
from rewards.apply.steps import MAX_KEPT_OBJECTS, BatchResult, apply_events
from rewards.badges import repository as badges_repository
from rewards.db import REFUSED_DATA, UnitOfWork, refresh_planner_statistics, refusal, unit_of_work
from rewards.engine.ruleset import Ruleset
from rewards.engine.state import WorkingState
from rewards.errors import RewardsError
from rewards.events import repository as events_repository
from rewards.leaderboards import service as leaderboards
from rewards.ledger import repository as ledger_repository
from rewards.perks import service as perks_service
from rewards.rulesets import service as rulesets
from rewards.rulesets.schemas import Mode, PublishOut
from rewards.runtime import holder_name, utcnow

log = logging.getLogger(__name__)

# Progress is written (PostgreSQL) at most this often, and given up on after PROGRESS_TIMEOUT_SECONDS: it is
# only a display, and must never fail the replay.
PROGRESS_EVERY_SECONDS = 2.0
PROGRESS_TIMEOUT_SECONDS = 5.0
# The schedule looks for a queued retroactive publication this often.
PUBLISH_EVERY_SECONDS = 5
# A replay reads and writes this many events at a time at least: it runs alone, under the cursor, so a batch
# need not be small for others' sake, and each costs a fixed number of statements.
REPLAY_BATCH = 20_000


async def replay(
    session: AsyncSession,
    ruleset: Ruleset,
    batch_size: int,
    holder: str,
    now: datetime,
    progress: Callable[[int], Awaitable[None]] | None = None,
    *,
    published_by: tuple[str, str] | None = None,
) -> BatchResult:
    """Rebuild every derived table from the event log under `ruleset`, in one transaction. `progress` is told
    how many events were replayed after each batch. `published_by` (actor, why): the replay publishes other rules,
    under which the open perk grants are decided again (`rewards.perks.service.redecide`); a plain replay under
    the same rules leaves them as the live path decided them."""
    writer = f"replay-{uuid.uuid4().hex}"
    await events_repository.take_cursor(session, holder, now)
    await ledger_repository.clear_derived_state(session)
    await badges_repository.clear_rule_badges(session)
    await events_repository.restart_from_the_beginning(session, writer)
    applied = failed = last_seq = 0
    # One state for the whole replay: it holds the cursor until it commits, so nothing else writes what the
    # state knows, and each batch loads only what no earlier batch touched (a fresh state per batch read every
    # user, award and counter back from the rows it had just written). Bounded like an applier's kept state.
    state = WorkingState()
    batch_size = max(batch_size, REPLAY_BATCH)
    while True:
        events = await events_repository.events_after(session, last_seq, batch_size)
        if not events:
            await events_repository.advance_cursor(session, last_seq, writer)
            await leaderboards.rebuild_after_replay(session, ruleset, last_seq)
            # Perk grants are not derived state (claims and approvals are people's decisions): they stay, and are
            # decided again once against the rebuilt state: under published rules, what they no longer justify is
            # withdrawn; then what the rules newly justify is offered. Both are new facts, not history granted
            # again, so they are notified (the forum must add or remove a role's group; the expert must know).
            if published_by is not None:
                actor, why = published_by
                await perks_service.redecide(session, ruleset, now, actor=actor, why=why)
            await perks_service.reconcile_everyone(session, ruleset, now, notify=True)
            return BatchResult(applied=applied, failed=failed, last_seq=last_seq)
        result = await apply_events(session, ruleset, events, now, state, replay=True)
        if state.size() >= MAX_KEPT_OBJECTS:
            state = WorkingState()  # what it held is written: the next batches load it back as they need it
        applied += result.applied
        failed += result.failed
        last_seq = result.last_seq
        if progress is not None:
            await progress(applied + failed)


async def publish(
    session: AsyncSession,
    *,
    source: str | None,
    version: int | None,
    mode: Mode,
    comment: str,
    actor: str,
    via: rulesets.Via,
    now: datetime,
    batch_size: int,
    holder: str,
    job_id: int | None = None,
    progress: Callable[[int], Awaitable[None]] | None = None,
) -> PublishOut:
    """Publish a draft (`source`) or an earlier version, from now on or retroactively (the log replayed under it,
    in this transaction; `progress` is told how far it got). Audit-logged. Refused while a retroactive
    publication is queued or running, unless this is that job (`job_id`). The caller commits, then calls
    `Applier.refresh`."""
    begun = await rulesets.begin_publication(
        session,
        source=source,
        version=version,
        mode=mode,
        comment=comment,
        actor=actor,
        via=via,
        now=now,
        holder=holder,
        job_id=job_id,
    )
    replayed = failed = None
    if mode == rulesets.RETROACTIVE:
        why = f"ruleset version {begun.ruleset.version} published retroactively"
        if begun.previous is not None and begun.ruleset.version < begun.previous:
            why = f"rolled back to ruleset version {begun.ruleset.version}"
        result = await replay(session, begun.ruleset, batch_size, holder, now, progress, published_by=(actor, why))
        replayed, failed = result.applied, result.failed
    return await rulesets.finish_publication(session, begun, now, replayed=replayed, failed=failed)


async def publish_now(
    applier: Applier,
    uow: UnitOfWork,
    *,
    source: str | None,
    version: int | None,
    mode: Mode,
    comment: str,
    actor: str,
    via: rulesets.Via,
    job_id: int | None = None,
    progress: Callable[[int], Awaitable[None]] | None = None,
) -> PublishOut:
    """`publish` for a running process, in the caller's unit of work: from now on (API, console, CLI), or
    retroactively (the CLI, in the foreground; a queued job, `run_claimed_job`). A replay recomputes the
    boards, so those in Redis are marked stale until the heal job reloads them. Once the unit of work commits,
    this process switches to the published rules."""
    runtime = applier.runtime
    published = await publish(
        uow.session,
        source=source,
        version=version,
        mode=mode,
        comment=comment,
        actor=actor,
        via=via,
        now=utcnow(),
        batch_size=runtime.settings.apply_batch_size,
        holder=holder_name("publish"),
        job_id=job_id,
        progress=progress,
    )
    await leaderboards.mirror_batch(runtime, uow.session, utcnow())

    async def switch() -> None:
        await applier.refresh()

    uow.after_commit(switch)
    return published


# -- retroactive publications, in the background --------------------------------------------------------------------


async def publish_retroactively(applier: Applier, now: datetime) -> int:
    """Scheduled: start the oldest queued job in a task of this process (1 if it did), and return at once.

    A replay may take longer than any scheduled job may run (arq's time limit, or the embedded scheduler's
    other jobs waiting): the task runs it to its end. When the process stops, `Applier.stop` cancels the task;
    its transaction rolls back and the job goes back to the queue for the next process."""
    if applier.publish_task is not None and not applier.publish_task.done():
        return 0  # one at a time per process (and, with the publishing lock, at all)
    async with unit_of_work(applier.runtime.sessionmaker) as uow:
        job = await rulesets.claim_queued_job(uow.session, now)
    if job is None:
        return 0
    applier.publish_task = asyncio.create_task(run_claimed_job(applier, job), name=f"rewards-publish-job-{job.id}")
    applier.publish_task.add_done_callback(_log_failure)
    return 1


def _log_failure(task: "asyncio.Task[None]") -> None:
    """The job records its own failures; this is for what escaped it (then the job stays running until the
    schedule takes it for dead)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s ended with an error", task.get_name(), exc_info=task.exception())


async def run_claimed_job(applier: Applier, job: rulesets.ClaimedJob) -> None:
    """Replay the log under the job's version and publish it: the publication, the replay and the job's `done`
    commit in one transaction. If anything fails, that transaction rolls back and the job is marked failed,
    with the reason, in another; if this process is stopping (cancelled), the job goes back to the queue."""
    runtime = applier.runtime
    log.info("publishing ruleset version %d retroactively (job %d, %d events)", job.version, job.id, job.events_total)
    try:
        async with unit_of_work(runtime.sessionmaker) as uow:
            published = await publish_now(
                applier,
                uow,
                source=None,
                version=job.version,
                mode=rulesets.RETROACTIVE,
                comment=job.comment,
                actor=job.requested_by,
                via=job.via,
                job_id=job.id,
                progress=_progress_writer(applier, job.id),
            )
            await rulesets.finish_job(uow.session, job.id, published, utcnow())
    except asyncio.CancelledError:
        await asyncio.shield(_requeue(applier, job.id))
        raise
    except RewardsError as error:  # the version no longer compiles...
        reason = error.message
    except REFUSED_DATA as error:
        reason = f"the database refused a value: {refusal(error)}"
    except (OperationalError, InterfaceError) as error:
        log.warning("retroactive publish job %d lost the database: %s", job.id, error)
        reason = "the connection to the database was lost during the replay; publish again"
    except Exception as error:  # a bug: the job fails loudly, the published ruleset stays as it was
        log.exception("retroactive publish job %d failed unexpectedly", job.id)
        reason = f"internal error: {error!r}"
    else:
        log.info("job %d: ruleset version %d published retroactively", job.id, job.version)
        await refresh_planner_statistics(runtime.sessionmaker)
        return
    current = asyncio.current_task()
    if current is not None and current.cancelling():  # stopping: the cancel surfaced as a database error
        await asyncio.shield(_requeue(applier, job.id))
        raise asyncio.CancelledError
    log.warning("retroactive publish job %d failed: %s", job.id, reason)
    async with unit_of_work(runtime.sessionmaker) as uow:
        await rulesets.fail_job(uow.session, job.id, reason, utcnow())


async def _requeue(applier: Applier, job_id: int) -> None:
    """Never raises: it runs while the process stops, which must go on (the next turn then marks the job dead)."""
    try:
        async with unit_of_work(applier.runtime.sessionmaker) as uow:
            requeued = await rulesets.requeue_job(uow.session, job_id)
    except Exception:
        log.exception("retroactive publish job %d was stopped and could not be queued again", job_id)
        return
    if requeued:
        log.info("retroactive publish job %d was stopped with its process; it is queued again", job_id)


def _progress_writer(applier: Applier, job_id: int) -> Callable[[int], Awaitable[None]] | None:
    """Writes how far the replay got, on a connection of its own, every few seconds. Not on SQLite: its one
    writer is the replay's transaction until it commits."""
    runtime = applier.runtime
    if runtime.engine.dialect.name != "postgresql":
        return None
    loop = asyncio.get_running_loop()
    last = loop.time()

    async def write(events_done: int) -> None:
        nonlocal last
        if loop.time() - last < PROGRESS_EVERY_SECONDS:
            return
        last = loop.time()
        try:
            async with asyncio.timeout(PROGRESS_TIMEOUT_SECONDS), unit_of_work(runtime.sessionmaker) as uow:
                await rulesets.record_job_progress(uow.session, job_id, events_done)
        except (TimeoutError, DBAPIError) as error:
            log.warning("job %d: could not write its progress (%s); the replay goes on", job_id, error)

    return write
