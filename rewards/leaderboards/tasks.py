"""Scheduled leaderboard jobs: reload Redis when it lost the boards, and close ended periods once."""

from datetime import datetime
from typing import TYPE_CHECKING

from rewards.leaderboards import service
from rewards.outbox import service as outbox
from rewards.rulesets import service as rulesets

if TYPE_CHECKING:
    from rewards.runtime import Runtime

HEAL_EVERY_SECONDS = 5
CLOSE_EVERY_SECONDS = 60


async def heal_boards(runtime: "Runtime", now: datetime) -> int:
    """Production mode: notice a flushed or stale Redis (no build id in its meta key) and reload it."""
    if runtime.settings.redis_url is None or await _replay_running(runtime):
        return 0
    return await service.heal(runtime, now)


async def close_periods(runtime: "Runtime", now: datetime) -> int:
    """Close the periods that ended (after a short grace) and record their winners; once across processes.
    Their prizes were notified (badge awarded, perk offered): ask for delivery now, as every writer does."""
    if await _replay_running(runtime):
        return 0
    closed = await service.close_periods(runtime, now)
    if closed:
        await outbox.kick(runtime)
    return closed


async def _replay_running(runtime: "Runtime") -> bool:
    """Both jobs take the apply cursor, which a retroactive publish holds for its whole replay: they skip their
    turn instead of waiting (in embedded mode that wait would hold up every scheduled job; in a worker, a slot
    each turn). They run again once it has committed, and the replay recomputes the boards anyway."""
    async with runtime.sessionmaker() as session:
        return await rulesets.replay_running(session)
