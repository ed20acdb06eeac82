"""In-process apply throughput: store the whole community in the event log, then time `drain` until none is pending."""

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from bench.bench_services import DatabaseFigures, database_figures, postgres_cpu_seconds
from rewards.apply.applier import Applier
from rewards.apply.publish import replay as replay_log
from rewards.config import Settings
from rewards.db import unit_of_work
from rewards.events import service
from rewards.runtime import APPLYING_GC_THRESHOLD, SERVING_GC_THRESHOLD, Runtime, utcnow

log = logging.getLogger(__name__)

INTAKE_BATCH = 1000  # events per intake transaction, as a forum posting batches of 1,000 would
PROGRESS_SECONDS = 15.0  # drain in slices of this long, only to report progress


@dataclass(frozen=True)
class IntakeFigures:
    events: int
    accepted: int
    duplicates: int
    transactions: int
    seconds: float
    events_per_second: float


@dataclass(frozen=True)
class ApplyFigures:
    database: str
    apply_batch_size: int
    events: int
    seconds: float
    events_per_second: float
    # CPU time of this (the applying) process during the drain; the rest of `seconds` is waiting on the database.
    process_cpu_seconds: float
    # CPU time of the local PostgreSQL server during the drain (None on SQLite or without /proc).
    database_cpu_seconds: float | None
    batches: int
    applied: int
    failed: int
    pending_after: int
    analyze_seconds: float | None
    intake: IntakeFigures
    result: DatabaseFigures
    # `rewards replay` on the same log afterwards (one transaction, every derived table rebuilt), if asked.
    replay_seconds: float | None = None
    replay_events_per_second: float | None = None


async def measure_apply(
    database_url: str,
    events: Sequence[dict[str, Any]],
    *,
    analyze: bool,
    before_drain: Sequence[str] = (),
    replay: bool = False,
) -> ApplyFigures:
    """Store `events` into an empty database at `database_url`, optionally ANALYZE, run the `before_drain` SQL
    statements (to try an index or a setting), then time the drain (and a replay of the log, with `replay`)."""
    # On PostgreSQL this is what `rewards worker` does, with its GC settings; on SQLite what the embedded API does.
    postgres = database_url.startswith("postgresql")
    applier = await Applier.start(
        Settings(database_url=database_url, environment="test"),
        connect_queue=False,
        gc_threshold=APPLYING_GC_THRESHOLD if postgres else SERVING_GC_THRESHOLD,
    )
    runtime = applier.runtime
    try:
        intake = await _store_all(runtime, events)
        analyze_seconds = await _analyze(runtime) if analyze else None
        if before_drain:
            async with runtime.engine.begin() as connection:
                for statement in before_drain:
                    await connection.execute(text(statement))

        log.info("applying %d events (batches of %d)", intake.accepted, runtime.settings.apply_batch_size)
        applied = failed = batches = 0
        started = time.perf_counter()
        cpu_started = time.process_time()
        database_cpu_started = postgres_cpu_seconds() if postgres else None
        while True:
            result = await applier.drain("bench", time_budget=PROGRESS_SECONDS)
            applied += result.applied
            failed += result.failed
            batches += result.batches
            if result.finished:
                break
            elapsed = time.perf_counter() - started
            log.info("  applied %d/%d, %.0f events/s", applied + failed, intake.accepted, (applied + failed) / elapsed)
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        database_cpu_now = postgres_cpu_seconds() if postgres else None
        database_cpu = None
        if database_cpu_now is not None and database_cpu_started is not None:
            database_cpu = database_cpu_now - database_cpu_started

        async with runtime.sessionmaker() as session:
            pending_after = await service.pending_count(session)
        figures = await database_figures(runtime.engine)
        replay_seconds = await _replay(runtime) if replay else None
    finally:
        await applier.stop()

    done = applied + failed
    log.info("applied %d events in %.1f s: %.0f events/s, %d failed", done, seconds, done / seconds, failed)
    return ApplyFigures(
        database=runtime.engine.dialect.name,
        apply_batch_size=runtime.settings.apply_batch_size,
        events=done,
        seconds=round(seconds, 3),
        events_per_second=round(done / seconds, 1),
        process_cpu_seconds=round(cpu_seconds, 3),
        database_cpu_seconds=None if database_cpu is None else round(database_cpu, 2),
        batches=batches,
        applied=applied,
        failed=failed,
        pending_after=pending_after,
        analyze_seconds=analyze_seconds,
        intake=intake,
        result=figures,
        replay_seconds=None if replay_seconds is None else round(replay_seconds, 3),
        replay_events_per_second=None if replay_seconds is None else round(done / replay_seconds, 1),
    )


async def _replay(runtime: Runtime) -> float:
    """`rewards replay`: the whole log again under the same rules, in one transaction."""
    log.info("replaying the log")
    started = time.perf_counter()
    async with unit_of_work(runtime.sessionmaker) as uow:
        result = await replay_log(
            uow.session, runtime.ruleset, runtime.settings.apply_batch_size, "bench-replay", utcnow()
        )
    seconds = time.perf_counter() - started
    log.info(
        "replayed %d events in %.1f s: %.0f events/s", result.applied + result.failed, seconds, result.applied / seconds
    )
    return seconds


async def _store_all(runtime: Runtime, events: Sequence[dict[str, Any]]) -> IntakeFigures:
    """Validate and store every event, INTAKE_BATCH per unit of work, exactly as POST /v1/events does."""
    log.info("storing %d events (%d per transaction)", len(events), INTAKE_BATCH)
    accepted = duplicates = transactions = 0
    report_every = max(len(events) // 5, INTAKE_BATCH)
    started = time.perf_counter()
    for start in range(0, len(events), INTAKE_BATCH):
        valid = service.validate_batch(events[start : start + INTAKE_BATCH])
        async with unit_of_work(runtime.sessionmaker) as uow:
            intake = await service.store(uow.session, valid, utcnow())
        accepted += len(intake.accepted)
        duplicates += len(intake.duplicates)
        transactions += 1
        if (start + INTAKE_BATCH) % report_every < INTAKE_BATCH:
            log.info("  stored %d/%d", start + len(valid), len(events))
    seconds = time.perf_counter() - started
    log.info("stored %d events in %.1f s: %.0f events/s", len(events), seconds, len(events) / seconds)
    return IntakeFigures(
        events=len(events),
        accepted=accepted,
        duplicates=duplicates,
        transactions=transactions,
        seconds=round(seconds, 3),
        events_per_second=round(len(events) / seconds, 1),
    )


async def _analyze(runtime: Runtime) -> float:
    """Fresh statistics, as autovacuum's analyze would have gathered after a bulk load in production."""
    started = time.perf_counter()
    async with runtime.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))
    seconds = time.perf_counter() - started
    log.info("ANALYZE took %.1f s", seconds)
    return round(seconds, 3)
