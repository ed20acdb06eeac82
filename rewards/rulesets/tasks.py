"""Scheduled ruleset job: run the retroactive publication a manager asked for, in the background."""

from datetime import datetime
from typing import TYPE_CHECKING

from rewards.rulesets import service

if TYPE_CHECKING:
    from rewards.runtime import Runtime

PUBLISH_EVERY_SECONDS = 5
# A replay runs at thousands of events a second (see README, Performance): six hours is a log of tens of
# millions of events. Past it the worker cancels the job, which rolls back; the next turn marks it failed.
PUBLISH_TIMEOUT_SECONDS = 6 * 3600


async def publish_retroactively(runtime: "Runtime", now: datetime) -> int:
    return await service.run_queued_publication(runtime, now)
