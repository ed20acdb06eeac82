"""Scheduled leaderboard jobs: reload Redis when it lost the boards, and close ended periods once."""

from datetime import datetime

from rewards.leaderboards import service
from rewards.outbox import service as outbox
from rewards.runtime import Runtime

HEAL_EVERY_SECONDS = 5
CLOSE_EVERY_SECONDS = 60


async def heal_boards(runtime: Runtime, now: datetime) -> int:
    """Production mode: notice a flushed or stale Redis (no build id in its meta key) and reload it."""
    return await service.heal(runtime, now)


async def close_periods(runtime: Runtime, now: datetime) -> int:
    """Close the periods that ended (after a short grace) and record their winners; once across processes.
    Their prizes were notified (badge awarded, perk offered): ask for delivery now, as every writer does."""
    closed = await service.close_periods(runtime, now)
    if closed:
        await outbox.kick(runtime)
    return closed
