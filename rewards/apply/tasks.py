"""arq jobs that apply the event log in production mode."""

import logging
from typing import Any

from rewards.apply.applier import Applier
from rewards.events import service
from rewards.redis_keys import APPLY_JOB, APPLY_JOB_ID
from rewards.runtime import holder_name

log = logging.getLogger(__name__)

# A job stops after this long and hands over to a fresh one: well inside arq's job timeout, and short enough
# for a worker asked to stop to finish its current job first.
DRAIN_BUDGET_SECONDS = 10.0


async def apply_events(ctx: dict[str, Any], up_to_seq: int | None = None) -> int:
    """Apply everything pending. Enqueued after each intake commit; cheap when another job got there first."""
    applier: Applier = ctx["applier"]
    if applier.draining:
        # This process is draining already, and goes on until nothing is pending. Waiting for it here would hold
        # one of arq's job slots: under steady intake they all filled with such waits, and webhook deliveries and
        # the scheduled jobs (sweeps, heal, period closing) waited behind them.
        applier.drain_again = True
        return 0
    async with applier.runtime.sessionmaker() as session:
        if not await service.has_pending(session, up_to_seq):
            return 0
    result = await applier.drain(holder_name("worker"), time_budget=DRAIN_BUDGET_SECONDS)
    if not result.finished:
        await ctx["redis"].enqueue_job(APPLY_JOB, None, _job_id=APPLY_JOB_ID.format(up_to_seq=f"more-{ctx['job_id']}"))
    return result.applied


async def sweep_pending(ctx: dict[str, Any]) -> int:
    """Safety net on a schedule: applies events whose job was lost (Redis flushed, enqueue failed)."""
    return await apply_events(ctx, None)
