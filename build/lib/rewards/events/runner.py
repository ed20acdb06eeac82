"""Drain the event log: apply pending events batch by batch, one transaction per batch.

The embedded API and the arq worker both call `drain`; only who calls it differs.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Literal

from rewards.db import REFUSED_DATA, refusal, unit_of_work
from rewards.engine.state import EventInput
from rewards.events import service
from rewards.leaderboards import service as leaderboards
from rewards.outbox import service as outbox
from rewards.redis_keys import APPLY_JOB, APPLY_JOB_ID
from rewards.rulesets import service as rulesets
from rewards.runtime import Runtime, holder_name, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrainResult:
    applied: int
    failed: int
    batches: int
    finished: bool


async def drain(runtime: Runtime, holder: str, *, time_budget: float | None = None) -> DrainResult:
    """Apply pending events until none is left (or the time budget is spent).

    If the database refuses a batch's writes (data it cannot store, not a lost connection), the batch is
    retried one event at a time; the event the database still refuses is recorded as failed, with the
    reason, and the log goes on past it.

    One drain at a time per process: concurrent ones would only queue on the cursor's row lock and keep
    dropping each other's in-memory state. A caller that waits here still drains after the holder, so the
    events it came for are never left behind.
    """
    async with runtime.apply_lock:
        runtime.draining = True
        try:
            result = await _drain(runtime, holder, time_budget)
        finally:
            runtime.draining = False
        try:
            await leaderboards.fold_now(runtime)
        except Exception:  # the batches are applied and their deltas logged: the next drain's fold takes them
            log.exception("folding the leaderboard deltas at the end of a drain failed")
        return result


async def _drain(runtime: Runtime, holder: str, time_budget: float | None) -> DrainResult:
    started = time.monotonic()
    applied = failed = batches = 0
    batch_size = runtime.settings.apply_batch_size
    while True:
        kept = runtime.kept_state
        runtime.kept_state = None  # until this batch commits, the state it changes is not known to be exact
        ahead: asyncio.Task[service.PreparedBatch | None] | None = None
        try:
            async with unit_of_work(runtime.sessionmaker) as uow:
                batch = await service.next_batch(
                    uow.session, runtime.ruleset, batch_size, holder, utcnow(), writer=runtime.writer, kept=kept
                )
                kept, written = batch.kept, batch.prepared
                if kept is not None and written is not None and batch_size == runtime.settings.apply_batch_size:
                    # The next batch is computed while this one's writes and commit run (see `prepare_ahead`).
                    ahead = asyncio.create_task(_prepare_ahead(runtime, kept, batch_size, written.rest))
                result = await service.write_next_batch(
                    uow.session, runtime.ruleset, batch, utcnow(), writer=runtime.writer
                )
                # Under the cursor: another published version rolls this batch back and switches to it.
                await rulesets.follow_published(runtime, uow.session)
                # Production mode: the batch's board changes go to Redis still under the cursor (see leaderboards).
                await leaderboards.mirror_batch(runtime, uow.session, utcnow())
        except rulesets.PublishedRulesetChanged:
            await _cancel(ahead)
            continue
        except REFUSED_DATA as error:
            await _cancel(ahead)
            if batch_size > 1:
                log.warning("the database refused a batch (%s); retrying it one event at a time", error)
                batch_size = 1
                continue
            async with unit_of_work(runtime.sessionmaker) as uow:
                seq = await service.fail_next_event(
                    uow.session, runtime.ruleset, holder, utcnow(), runtime.writer, refusal(error)
                )
            log.error("event seq %s could not be stored: %s; it is recorded as failed", seq, refusal(error))
            failed += 1
            batch_size = runtime.settings.apply_batch_size
            continue
        except BaseException:
            await _cancel(ahead)
            raise
        if kept is not None:
            if ahead is not None:
                next_batch = await _ahead_result(ahead)
                if next_batch is False:
                    kept = None  # the state holds part of a batch that is not there: start again from the database
                else:
                    kept.ahead = next_batch
            if kept is not None:
                if written is not None:
                    # Committed, and no read from before the commit is still under way: the awards it undid can go.
                    kept.state.drop_awards(written.undone_awards)
                runtime.kept_state = kept
        if result.applied or result.failed:
            leaderboards.fold_soon(runtime)  # on another connection, while the next batch is computed
        if result.notified:
            await outbox.kick(runtime)
        if result.applied == 0 and result.failed == 0:
            if runtime.drain_again:  # an apply job left it to this drain: events may have come since the look
                runtime.drain_again = False
                continue
            return DrainResult(applied, failed, batches, finished=True)
        if batch_size == 1 and result.applied:
            batch_size = runtime.settings.apply_batch_size
        batches += 1
        applied += result.applied
        failed += result.failed
        if result.failed:
            log.warning(
                "%d event(s) failed in a batch up to seq %d; see GET /v1/events", result.failed, result.last_seq
            )
        if time_budget is not None and time.monotonic() - started > time_budget:
            return DrainResult(applied, failed, batches, finished=False)


async def _prepare_ahead(
    runtime: Runtime, kept: service.KeptState, limit: int, rest: list[EventInput]
) -> service.PreparedBatch | None:
    async with runtime.sessionmaker() as session:
        return await service.prepare_ahead(session, runtime.ruleset, kept, limit, rest)


async def _ahead_result(
    ahead: asyncio.Task[service.PreparedBatch | None],
) -> service.PreparedBatch | Literal[False] | None:
    """The batch prepared ahead, None if nothing was pending, or False if preparing it failed part way."""
    try:
        return await ahead
    except Exception:
        log.exception("preparing the next batch ahead failed; it is read again from the database")
        return False


async def _cancel(ahead: asyncio.Task[service.PreparedBatch | None] | None) -> None:
    """Stop a batch being prepared ahead of one that did not commit (the state it works on is dropped)."""
    if ahead is None:
        return
    ahead.cancel()
    await asyncio.wait([ahead])


async def after_intake(runtime: Runtime, up_to_seq: int) -> None:
    """Embedded mode: apply now, before answering. Production mode: enqueue a job (after the commit)."""
    if runtime.queue is None:
        await drain(runtime, holder_name("api"))
        return
    try:
        await runtime.queue.enqueue_job(APPLY_JOB, up_to_seq, _job_id=APPLY_JOB_ID.format(up_to_seq=up_to_seq))
    except Exception:  # the events are stored; the worker's sweep applies them even without this job
        log.exception("could not enqueue %s up to seq %d; the next sweep will apply the events", APPLY_JOB, up_to_seq)
