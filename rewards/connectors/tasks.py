"""Scheduled: the Khoros connector's streams, each when it is due (the arq cron in production, the embedded
scheduler otherwise). Safe in several processes at once: each stream's row is leased to one of them."""

from datetime import datetime

from rewards.apply.applier import Applier
from rewards.connectors.khoros import KhorosConfig, sync_due

SYNC_EVERY_SECONDS = 60  # how often the job looks; each stream runs every REWARDS_KHOROS_SYNC_EVERY_SECONDS


async def sync_khoros(applier: Applier, now: datetime) -> int:
    """Events the due streams stored; 0 when no Khoros community is configured."""
    config = KhorosConfig.from_settings(applier.runtime.settings)
    if config is None or not config.streams:
        return 0
    return sum(run.accepted for run in await sync_due(applier, config, now))
