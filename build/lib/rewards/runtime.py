"""Shared resources of a process (API, worker or CLI): settings, database, the ruleset, the queue."""

import asyncio
import gc
import os
import socket
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from arq import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rewards.config import Settings
from rewards.db import create_engine, create_sessionmaker, migrate, unit_of_work
from rewards.engine.ruleset import Ruleset
from rewards.events.service import KeptState
from rewards.queue import connect
from rewards.rulesets import service as rulesets

# Young-generation thresholds of the cyclic GC. A process that serves requests collects after 50,000 new
# objects: short pauses. A process that only applies (the worker, imports, replays) keeps most of what a batch
# allocates alive until the batch is written, so each collection scans it all again: after 250,000, its GC time
# in a 60,000-event apply fell from 0.9-1.4 s to 0.25-0.4 s of 11-15 s (`gc.callbacks`), for pauses of about
# 0.13 s instead of 0.03 (the middle generation's were already 0.2 s), and the same peak memory.
SERVING_GC_THRESHOLD = 50_000
APPLYING_GC_THRESHOLD = 250_000


def tune_garbage_collector(young: int = SERVING_GC_THRESHOLD) -> None:
    """Applying a batch allocates hundreds of thousands of short-lived objects that refcounting frees; the
    default cyclic-GC thresholds would scan the whole heap again and again meanwhile (35-45% of apply time,
    measured). Freeze what start-up allocated and collect less often."""
    gc.freeze()
    gc.set_threshold(young, 20, 100)


def utcnow() -> datetime:
    return datetime.now(UTC)


def holder_name(role: str) -> str:
    return f"{role}@{socket.gethostname()}:{os.getpid()}"


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    ruleset: Ruleset
    queue: ArqRedis | None = None
    # Reads need no transaction: a session on this engine runs each statement on its own (no BEGIN/COMMIT
    # round trips), which is what the forum's many small reads want.
    read_sessionmaker: async_sessionmaker[AsyncSession] | None = None
    # One drain at a time per process (the API's in embedded mode, a worker's jobs in production).
    apply_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # This process's name on the apply cursor, and the engine state it keeps between its batches.
    writer: str = field(default_factory=lambda: uuid.uuid4().hex)
    kept_state: "KeptState | None" = None
    # Whether a drain is applying batches in this process, and whether an apply job that found it so asked it
    # to look once more before it returns.
    draining: bool = False
    drain_again: bool = False
    # The background fold of leaderboard deltas into the scores (PostgreSQL), and whether to go round again.
    board_fold: "asyncio.Task[None] | None" = None
    board_fold_again: bool = False
    # A retroactive publication this process is running (see rewards.rulesets.tasks).
    publish_task: "asyncio.Task[None] | None" = None

    @classmethod
    async def start(
        cls, settings: Settings, *, connect_queue: bool = True, gc_threshold: int = SERVING_GC_THRESHOLD
    ) -> "Runtime":
        """`gc_threshold`: APPLYING_GC_THRESHOLD in a process that applies events and serves no requests."""
        ruleset = rulesets.load(settings.rules_path)
        engine = create_engine(settings)
        await migrate(engine)
        sessionmaker = create_sessionmaker(engine)
        async with unit_of_work(sessionmaker) as uow:
            # The rules file if it changed since it was last published from the file, else the published version.
            ruleset = await rulesets.start_up(uow.session, ruleset, str(settings.rules_path), utcnow())
        queue = None
        if connect_queue and settings.redis_url is not None:
            queue = await connect(settings.redis_url)
        tune_garbage_collector(gc_threshold)
        read_sessionmaker = create_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            ruleset=ruleset,
            queue=queue,
            read_sessionmaker=read_sessionmaker,
        )

    async def stop(self) -> None:
        if self.publish_task is not None and not self.publish_task.done():
            # Rolled back, and queued again for the next process (a replay is one transaction).
            self.publish_task.cancel()
            with suppress(asyncio.CancelledError, Exception):  # an error was logged by the task's callback
                await self.publish_task
        if self.board_fold is not None:
            await self.board_fold  # it logs its own failure: the deltas it could not fold stay for the next
        if self.queue is not None:
            await self.queue.aclose()
        await self.engine.dispose()
