"""The arq worker (`rewards worker`): applies the event log in production mode."""

from typing import Any

from arq import Worker, cron
from arq.cron import CronJob

from rewards.apply.applier import Applier
from rewards.apply.tasks import apply_events, sweep_pending
from rewards.config import Settings
from rewards.outbox.tasks import deliver_webhooks
from rewards.periodic import PeriodicJob, periodic_jobs
from rewards.queue import deserialize_job, redis_settings, serialize_job
from rewards.redis_keys import ARQ_QUEUE
from rewards.runtime import APPLYING_GC_THRESHOLD, utcnow


async def startup(ctx: dict[str, Any]) -> None:
    # With its own queue connection, a worker asks for webhook delivery right after a batch that notified
    # (instead of leaving it to the 5 s sweep), and mirrors leaderboards to Redis over one kept connection.
    applier = await Applier.start(ctx["settings"], gc_threshold=APPLYING_GC_THRESHOLD)
    ctx["applier"] = applier
    ctx["runtime"] = applier.runtime  # for the jobs that need only the resources (webhook delivery)


async def shutdown(ctx: dict[str, Any]) -> None:
    applier: Applier | None = ctx.get("applier")
    if applier is not None:
        await applier.stop()


def _cron(job: PeriodicJob) -> CronJob:
    async def run(ctx: dict[str, Any]) -> int:
        return await job.run(ctx["applier"], utcnow())

    run.__qualname__ = run.__name__ = job.name
    if job.every_seconds < 60:
        return cron(run, name=job.name, second=set(range(0, 60, job.every_seconds)), run_at_startup=True)
    minutes = max(job.every_seconds // 60, 1)
    return cron(run, name=job.name, minute=set(range(0, 60, minutes)), second=0, run_at_startup=True)


def build_worker(settings: Settings, **overrides: Any) -> Worker:
    if settings.redis_url is None:
        raise SystemExit("rewards worker needs REWARDS_REDIS_URL (without it, the API applies events itself)")
    options: dict[str, Any] = {
        "functions": [apply_events, deliver_webhooks],
        "cron_jobs": [
            cron(sweep_pending, second=set(range(0, 60, 5)), run_at_startup=True),
            *(_cron(job) for job in periodic_jobs()),
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": redis_settings(settings.redis_url),
        "queue_name": ARQ_QUEUE,
        "max_jobs": 4,
        "job_timeout": 300,
        # On SIGTERM, let the running drain finish its batches (it stops within DRAIN_BUDGET_SECONDS).
        "job_completion_wait": 20,
        "keep_result": 0,
        "ctx": {"settings": settings},
        "job_serializer": serialize_job,
        "job_deserializer": deserialize_job,
    }
    options.update(overrides)
    return Worker(**options)
