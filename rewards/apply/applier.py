"""The applier of a process: the one owner of the event log's apply step and of everything it keeps between
batches.

A batch runs in this order, in one transaction under the apply cursor's row lock (`drain`):

1. take the cursor; use the batch prepared ahead if the kept state is still exact, else load and prepare it
   (`steps.next_batch`: load what the events touch, run the engine event by event, take the rows out);
2. write the ledger, counters and badges, the boards' deltas, the outbox, the perk decisions and the outcomes,
   and move the cursor (`steps.write_next_batch`);
3. still under the cursor: switch to another published ruleset if one was published meanwhile (the batch is
   then rolled back and applied again under it), and mirror the boards' changes to Redis (production mode);
4. commit; then keep the state (and the batch prepared ahead meanwhile), fold the boards' deltas in the
   background, and ask for webhook delivery if the batch notified.

Everything else that applies events goes through here: `ingest` (store, and apply once committed), `replay`
and retroactive publications (`rewards.apply.publish`).
"""

import asyncio
import logging
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from rewards.apply import steps
from rewards.config import Settings
from rewards.db import REFUSED_DATA, create_engine, create_sessionmaker, migrate, refusal, unit_of_work
from rewards.engine.state import EventInput
from rewards.leaderboards import service as leaderboards
from rewards.outbox import service as outbox
from rewards.queue import connect
from rewards.redis_keys import APPLY_JOB, APPLY_JOB_ID
from rewards.rulesets import repository as rulesets_repository
from rewards.rulesets import service as rulesets
from rewards.runtime import SERVING_GC_THRESHOLD, Runtime, holder_name, tune_garbage_collector, utcnow

log = logging.getLogger(__name__)

# API processes that never drain (production mode) look for a new publication this often.
FOLLOW_EVERY_SECONDS = 5.0


@dataclass(frozen=True)
class DrainResult:
    applied: int
    failed: int
    batches: int
    finished: bool


class PublishedRulesetChanged(Exception):
    """Raised inside a batch's transaction when another ruleset was published: the batch is rolled back and
    applied again under the new one."""


@dataclass(eq=False)
class Applier:
    """What a process needs to apply the log: its resources (`runtime`) and the applier's own state."""

    runtime: Runtime
    # One drain at a time per process (the API's in embedded mode, a worker's jobs in production).
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # This process's name on the apply cursor, and the engine state it keeps between its batches.
    writer: str = field(default_factory=lambda: uuid.uuid4().hex)
    kept: steps.KeptState | None = None
    # Whether a drain is applying batches in this process, and whether an apply job that found it so asked it
    # to look once more before it returns.
    draining: bool = False
    drain_again: bool = False
    # The background fold of leaderboard deltas into the scores (PostgreSQL), and whether to go round again.
    board_fold: "asyncio.Task[None] | None" = None
    board_fold_again: bool = False
    # A retroactive publication this process is running (see rewards.apply.publish).
    publish_task: "asyncio.Task[None] | None" = None
    # Production mode: the one apply job enqueue in flight from this process, and the newest seq it must cover.
    kick: "asyncio.Task[None] | None" = None
    kick_seq: int = 0

    @classmethod
    async def start(
        cls, settings: Settings, *, connect_queue: bool = True, gc_threshold: int = SERVING_GC_THRESHOLD
    ) -> "Applier":
        """Open the process's resources: the database (migrated), the ruleset to apply (the rules file if it
        changed since it was last published from the file, else the published version) and the queue.
        `gc_threshold`: APPLYING_GC_THRESHOLD in a process that applies events and serves no requests."""
        ruleset = rulesets.load(settings.rules_path)
        engine = create_engine(settings)
        await migrate(engine)
        sessionmaker = create_sessionmaker(engine)
        async with unit_of_work(sessionmaker) as uow:
            ruleset = await rulesets.start_up(uow.session, ruleset, str(settings.rules_path), utcnow())
        queue = None
        if connect_queue and settings.redis_url is not None:
            queue = await connect(settings.redis_url)
        tune_garbage_collector(gc_threshold)
        read_sessionmaker = create_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))
        runtime = Runtime(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            ruleset=ruleset,
            queue=queue,
            read_sessionmaker=read_sessionmaker,
        )
        return cls(runtime)

    async def stop(self) -> None:
        if self.publish_task is not None and not self.publish_task.done():
            # Rolled back, and queued again for the next process (a replay is one transaction).
            self.publish_task.cancel()
            with suppress(asyncio.CancelledError, Exception):  # an error was logged by the task's callback
                await self.publish_task
        if self.board_fold is not None:
            await self.board_fold  # it logs its own failure: the deltas it could not fold stay for the next
        if self.kick is not None:
            await self.kick  # it logs its own failure: the worker's sweep applies the events anyway
        await self.runtime.stop()

    def forget_state(self) -> None:
        """The kept state is no longer known to be exact (another ruleset, a change by hand)."""
        self.kept = None

    # -- applying ------------------------------------------------------------------------------------------------

    async def after_intake(self, up_to_seq: int) -> None:
        """Once events are committed: embedded mode applies them now, before answering; production mode asks the
        worker to apply them (`_kick`, in the background: the events are stored, the answer need not wait)."""
        if self.runtime.queue is None:
            await self.drain(holder_name("api"))
            return
        self.kick_seq = max(self.kick_seq, up_to_seq)
        if self.kick is None or self.kick.done():
            self.kick = asyncio.create_task(self._kick())

    async def _kick(self) -> None:
        """Enqueue the apply job for the newest stored seq, then again while requests stored more meanwhile: one
        enqueue in flight per process, so concurrent one-event requests share it (an enqueue is several Redis
        round trips; it was a quarter of such a request's time). A worker's drain takes every pending event
        whatever seq its job names; a lost enqueue costs latency only, as the worker's sweep applies them."""
        queue = self.runtime.queue
        while queue is not None:
            seq = self.kick_seq
            try:
                await queue.enqueue_job(APPLY_JOB, seq, _job_id=APPLY_JOB_ID.format(up_to_seq=seq))
            except Exception:  # the events are stored; the worker's sweep applies them even without this job
                log.exception("could not enqueue %s up to seq %d; the next sweep will apply the events", APPLY_JOB, seq)
            if self.kick_seq == seq:
                return

    async def drain(self, holder: str, *, time_budget: float | None = None) -> DrainResult:
        """Apply pending events until none is left (or the time budget is spent).

        If the database refuses a batch's writes (data it cannot store, not a lost connection), the batch is
        retried one event at a time; the event the database still refuses is recorded as failed, with the
        reason, and the log goes on past it.

        One drain at a time per process: concurrent ones would only queue on the cursor's row lock and keep
        dropping each other's in-memory state. A caller that waits here still drains after the holder, so the
        events it came for are never left behind.
        """
        async with self.lock:
            self.draining = True
            try:
                result = await self._drain(holder, time_budget)
            finally:
                self.draining = False
            try:
                await self.fold_now()
            except Exception:  # the batches are applied and their deltas logged: the next drain's fold takes them
                log.exception("folding the leaderboard deltas at the end of a drain failed")
            return result

    async def _drain(self, holder: str, time_budget: float | None) -> DrainResult:
        runtime = self.runtime
        started = time.monotonic()
        applied = failed = batches = 0
        batch_size = runtime.settings.apply_batch_size
        while True:
            kept = self.kept
            self.kept = None  # until this batch commits, the state it changes is not known to be exact
            ahead: asyncio.Task[steps.PreparedBatch | None] | None = None
            try:
                async with unit_of_work(runtime.sessionmaker) as uow:
                    batch = await steps.next_batch(
                        uow.session, runtime.ruleset, batch_size, holder, utcnow(), writer=self.writer, kept=kept
                    )
                    kept, written = batch.kept, batch.prepared
                    if kept is not None and written is not None and batch_size == runtime.settings.apply_batch_size:
                        # The next batch is computed while this one's writes and commit run (`steps.prepare_ahead`).
                        ahead = asyncio.create_task(self._prepare_ahead(kept, batch_size, written.rest))
                    result = await steps.write_next_batch(
                        uow.session, runtime.ruleset, batch, utcnow(), writer=self.writer
                    )
                    # Under the cursor: another published version rolls this batch back and switches to it.
                    await self.follow_published(uow.session)
                    # Production mode: the batch's board changes go to Redis still under the cursor.
                    await leaderboards.mirror_batch(runtime, uow.session, utcnow())
            except PublishedRulesetChanged:
                await _cancel(ahead)
                continue
            except REFUSED_DATA as error:
                await _cancel(ahead)
                if batch_size > 1:
                    log.warning("the database refused a batch (%s); retrying it one event at a time", error)
                    batch_size = 1
                    continue
                async with unit_of_work(runtime.sessionmaker) as uow:
                    seq = await steps.fail_next_event(
                        uow.session, runtime.ruleset, holder, utcnow(), self.writer, refusal(error)
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
                        kept = None  # the state holds part of a batch that is not there: start again
                    else:
                        kept.ahead = next_batch
                if kept is not None:
                    if written is not None:
                        # Committed, and no read from before the commit is still under way: undone awards can go.
                        kept.state.drop_awards(written.undone_awards)
                    self.kept = kept
            if result.applied or result.failed:
                self.fold_soon()  # on another connection, while the next batch is computed
            if result.notified:
                await outbox.kick(runtime)
            if result.applied == 0 and result.failed == 0:
                if self.drain_again:  # an apply job left it to this drain: events may have come since the look
                    self.drain_again = False
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
        self, kept: steps.KeptState, limit: int, rest: list[EventInput]
    ) -> steps.PreparedBatch | None:
        async with self.runtime.sessionmaker() as session:
            return await steps.prepare_ahead(session, self.runtime.ruleset, kept, limit, rest)

    # -- the boards' folds ---------------------------------------------------------------------------------------

    def fold_soon(self) -> None:
        """After a batch commits: fold its deltas in the background, on another connection, so that the database
        does it while this process computes the next batch. One fold at a time; a request while one runs makes
        it go round again."""
        if self.runtime.engine.dialect.name != "postgresql":
            return
        running = self.board_fold
        if running is not None and not running.done():
            self.board_fold_again = True
            return
        self.board_fold = asyncio.create_task(self._fold_until_caught_up())

    async def _fold_until_caught_up(self) -> None:
        while True:
            self.board_fold_again = False
            try:
                async with unit_of_work(self.runtime.sessionmaker) as uow:
                    await leaderboards.fold(uow.session)
            except Exception:  # the deltas stay logged: the next fold (at the latest, the drain's last) takes them
                log.exception("folding leaderboard deltas failed; the next fold will take them")
                return
            if not self.board_fold_again:
                return

    async def fold_now(self) -> None:
        """Wait for the background fold, then fold what is left: at the end of a drain, the scores are exact."""
        if self.runtime.engine.dialect.name != "postgresql":
            return
        if self.board_fold is not None:
            await self.board_fold
            self.board_fold = None
        async with unit_of_work(self.runtime.sessionmaker) as uow:
            await leaderboards.fold(uow.session)

    # -- following publications ----------------------------------------------------------------------------------

    async def follow_published(self, session: AsyncSession) -> None:
        """In a batch's transaction, under the apply cursor (a publication commits under it too): if the
        published version is not the one this batch was applied under, switch to it and have the batch applied
        again."""
        version = await rulesets_repository.published_version(session)
        if version is None or version == self.runtime.ruleset.version:
            return
        self.runtime.ruleset = await rulesets.compile_version(session, version)
        self.forget_state()
        log.info("ruleset version %d was published; applying it from now on", version)
        raise PublishedRulesetChanged(version)

    async def refresh(self) -> bool:
        """Switch this process to the published version if it changed (between batches). True if it did."""
        async with self.lock:
            maker = self.runtime.read_sessionmaker or self.runtime.sessionmaker
            async with maker() as session:
                version = await rulesets_repository.published_version(session)
                if version is None or version == self.runtime.ruleset.version:
                    return False
                ruleset = await rulesets.compile_version(session, version)
            self.runtime.ruleset = ruleset
            self.forget_state()
            log.info("ruleset version %d was published; this process applies it now", version)
            return True

    async def follow_forever(self, every_seconds: float = FOLLOW_EVERY_SECONDS) -> None:
        """API processes: pick up publications made elsewhere (another process, the CLI), until cancelled."""
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await self.refresh()
            except Exception:  # a broken publication must not stop the process; it keeps its ruleset and says so
                log.exception("could not switch to the published ruleset")


async def _ahead_result(
    ahead: "asyncio.Task[steps.PreparedBatch | None]",
) -> steps.PreparedBatch | Literal[False] | None:
    """The batch prepared ahead, None if nothing was pending, or False if preparing it failed part way."""
    try:
        return await ahead
    except Exception:
        log.exception("preparing the next batch ahead failed; it is read again from the database")
        return False


async def _cancel(ahead: "asyncio.Task[steps.PreparedBatch | None] | None") -> None:
    """Stop a batch being prepared ahead of one that did not commit (the state it works on is dropped)."""
    if ahead is None:
        return
    ahead.cancel()
    await asyncio.wait([ahead])
