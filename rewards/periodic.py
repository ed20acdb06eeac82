"""Jobs that run on a schedule: as arq cron jobs in a worker, or in the API process in embedded mode.

Each job is `async def job(runtime, now) -> int` (how many things it did), or takes the process's applier
instead when it stores events or publishes, and must be safe to run in several processes at once (they take
database locks or use unique keys, never "I am the only one").
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from rewards.apply.applier import Applier
from rewards.apply.publish import PUBLISH_EVERY_SECONDS, publish_retroactively
from rewards.connectors.tasks import SYNC_EVERY_SECONDS, sync_khoros
from rewards.leaderboards.tasks import CLOSE_EVERY_SECONDS, HEAL_EVERY_SECONDS, close_periods, heal_boards
from rewards.outbox.tasks import sweep_webhooks
from rewards.perks.tasks import sweep_perks
from rewards.renewals.tasks import CHECK_EVERY_SECONDS, check_renewals
from rewards.runtime import Runtime, utcnow
from rewards.users.tasks import lift_ended_suspensions

log = logging.getLogger(__name__)

PeriodicFunction = Callable[[Applier, datetime], Awaitable[int]]


def _with_runtime(job: Callable[[Runtime, datetime], Awaitable[int]]) -> PeriodicFunction:
    """A job that needs only the process's resources."""

    async def run(applier: Applier, now: datetime) -> int:
        return await job(applier.runtime, now)

    return run


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every_seconds: int  # divides 60 (arq cron runs it on those seconds of each minute) or is a multiple of 60
    run: PeriodicFunction


def periodic_jobs() -> list[PeriodicJob]:
    """Every scheduled job."""
    return [
        # Not named deliver_webhooks: arq keys functions and cron jobs by name, and that is the queued job's.
        PeriodicJob("sweep_webhooks", 5, _with_runtime(sweep_webhooks)),
        PeriodicJob("heal_leaderboards", HEAL_EVERY_SECONDS, _with_runtime(heal_boards)),
        PeriodicJob("close_leaderboard_periods", CLOSE_EVERY_SECONDS, _with_runtime(close_periods)),
        PeriodicJob("sweep_perks", 30, _with_runtime(sweep_perks)),
        PeriodicJob("lift_ended_suspensions", 60, lift_ended_suspensions),
        PeriodicJob("check_renewals", CHECK_EVERY_SECONDS, check_renewals),
        PeriodicJob("publish_retroactively", PUBLISH_EVERY_SECONDS, publish_retroactively),
        PeriodicJob("sync_khoros", SYNC_EVERY_SECONDS, sync_khoros),  # does nothing unless REWARDS_KHOROS_* is set
    ]


async def run_forever(applier: Applier, jobs: list[PeriodicJob], tick_seconds: float = 1.0) -> None:
    """Embedded mode: run each job every `every_seconds` in this process, until cancelled."""
    loop = asyncio.get_running_loop()
    next_run = {job.name: loop.time() for job in jobs}
    while True:
        for job in jobs:
            if loop.time() < next_run[job.name]:
                continue
            next_run[job.name] = loop.time() + job.every_seconds
            try:
                await job.run(applier, utcnow())
            except Exception:  # one failing job must not stop the others; it runs again on its next turn
                log.exception("scheduled job %s failed", job.name)
        await asyncio.sleep(tick_seconds)
