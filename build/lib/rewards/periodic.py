"""Jobs that run on a schedule: as arq cron jobs in a worker, or in the API process in embedded mode.

Each job is `async def job(runtime, now) -> int` (how many things it did) and must be safe to run in
several processes at once (they take database locks or use unique keys, never "I am the only one").
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from rewards.runtime import Runtime, utcnow

log = logging.getLogger(__name__)

PeriodicFunction = Callable[[Runtime, datetime], Awaitable[int]]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every_seconds: int  # divides 60 (arq cron runs it on those seconds of each minute) or is a multiple of 60
    run: PeriodicFunction


def periodic_jobs() -> list[PeriodicJob]:
    """Every scheduled job. Imported late so that each domain's tasks module may import the runtime."""
    jobs: list[PeriodicJob] = []
    from rewards.outbox.tasks import sweep_webhooks

    # Not named deliver_webhooks: arq keys functions and cron jobs by name, and that is the queued job's.
    jobs.append(PeriodicJob("sweep_webhooks", 5, sweep_webhooks))
    from rewards.leaderboards.tasks import CLOSE_EVERY_SECONDS, HEAL_EVERY_SECONDS, close_periods, heal_boards

    jobs.append(PeriodicJob("heal_leaderboards", HEAL_EVERY_SECONDS, heal_boards))
    jobs.append(PeriodicJob("close_leaderboard_periods", CLOSE_EVERY_SECONDS, close_periods))
    from rewards.perks.tasks import sweep_perks

    jobs.append(PeriodicJob("sweep_perks", 30, sweep_perks))
    from rewards.users.tasks import lift_ended_suspensions

    jobs.append(PeriodicJob("lift_ended_suspensions", 60, lift_ended_suspensions))
    from rewards.rulesets.tasks import PUBLISH_EVERY_SECONDS, publish_retroactively

    jobs.append(PeriodicJob("publish_retroactively", PUBLISH_EVERY_SECONDS, publish_retroactively))
    return jobs


async def run_forever(runtime: Runtime, jobs: list[PeriodicJob], tick_seconds: float = 1.0) -> None:
    """Embedded mode: run each job every `every_seconds` in this process, until cancelled."""
    loop = asyncio.get_running_loop()
    next_run = {job.name: loop.time() for job in jobs}
    while True:
        for job in jobs:
            if loop.time() < next_run[job.name]:
                continue
            next_run[job.name] = loop.time() + job.every_seconds
            try:
                await job.run(runtime, utcnow())
            except Exception:  # one failing job must not stop the others; it runs again on its next turn
                log.exception("scheduled job %s failed", job.name)
        await asyncio.sleep(tick_seconds)
