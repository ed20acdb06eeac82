"""Scheduled ruleset job: start the retroactive publication a manager asked for, in the background."""

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from rewards.rulesets import service

if TYPE_CHECKING:
    from rewards.runtime import Runtime

log = logging.getLogger(__name__)

PUBLISH_EVERY_SECONDS = 5


async def publish_retroactively(runtime: "Runtime", now: datetime) -> int:
    """Start the oldest queued job in a task of this process (1 if it did), and return at once.

    A replay may take longer than any scheduled job may run (arq's time limit, or the embedded scheduler's
    other jobs waiting): the task runs it to its end. When the process stops, `Runtime.stop` cancels the task;
    its transaction rolls back and the job goes back to the queue for the next process."""
    if runtime.publish_task is not None and not runtime.publish_task.done():
        return 0  # one at a time per process (and, with the publishing lock, at all)
    job = await service.claim_queued_job(runtime, now)
    if job is None:
        return 0
    runtime.publish_task = asyncio.create_task(
        service.run_claimed_job(runtime, job), name=f"rewards-publish-job-{job.id}"
    )
    runtime.publish_task.add_done_callback(_log_failure)
    return 1


def _log_failure(task: "asyncio.Task[None]") -> None:
    """The job records its own failures; this is for what escaped it (then the job stays running until the
    schedule takes it for dead)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s ended with an error", task.get_name(), exc_info=task.exception())
