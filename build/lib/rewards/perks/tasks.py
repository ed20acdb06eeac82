"""The perks' scheduled job: offers and perks expiring, windows opening and closing."""

from datetime import datetime

from rewards.db import unit_of_work
from rewards.outbox import service as outbox
from rewards.perks import service
from rewards.runtime import Runtime


async def sweep_perks(runtime: Runtime, now: datetime) -> int:
    """One transaction; every change takes the perk's lock, so several workers may run it at once."""
    if not runtime.ruleset.spec.perks:
        return 0
    async with unit_of_work(runtime.sessionmaker) as uow:
        written = await service.sweep(uow.session, runtime.ruleset, now)
    if written:
        await outbox.kick(runtime)
    return written
