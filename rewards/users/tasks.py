"""Scheduled: suspensions with an end (`until`) are lifted when it passes, by a `user.reinstated` event."""

from datetime import datetime

from rewards.apply.applier import Applier
from rewards.apply.ingest import ingest
from rewards.db import unit_of_work
from rewards.events.service import ValidEvent
from rewards.users import repository

SCHEDULE_SOURCE = "rewards:schedule"


async def lift_ended_suspensions(applier: Applier, now: datetime) -> int:
    """One event per ended suspension, with an id made of the user and the end time: several workers running
    this at once store it once (the event log's unique key), and a replay reproduces it from the log."""
    async with applier.runtime.sessionmaker() as session:
        ended = await repository.suspensions_ended(session, now)
    if not ended:
        return 0
    events = [
        ValidEvent(
            source=SCHEDULE_SOURCE,
            id=f"reinstate/{user_id}/{until.isoformat()}",
            type="user.reinstated",
            time=until,
            data={
                "actor": SCHEDULE_SOURCE,
                "user": user_id,
                "reason": "the suspension ended",
                # Applied only if the suspension still ends then: an extension stored meanwhile wins.
                "if_suspended_until": until.isoformat(),
            },
        )
        for user_id, until in ended
    ]
    async with unit_of_work(applier.runtime.sessionmaker) as uow:
        intake = await ingest(applier, uow, events, now)
    return len(intake.accepted)
