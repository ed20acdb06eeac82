"""Scheduled: a `renewal.check` event for each member whose renewing rank is due a warning or a lapse.

The event's time is the moment it fell due, not when this job noticed, and its id names the member, rank, kind and
lapse: several workers store it once, and applying it (like any event) re-reads the member's windows at its
month. A replay reproduces it from the log."""

from datetime import datetime

from rewards.apply.applier import Applier
from rewards.apply.ingest import ingest
from rewards.db import unit_of_work
from rewards.engine.renewal import AS_OF_COUNTER, RENEWAL_CHECK, DueCheck, bucket_counter, due
from rewards.events.service import ValidEvent
from rewards.renewals import repository

SCHEDULE_SOURCE = "rewards:schedule"
CHECK_EVERY_SECONDS = 60
PAGE = 1000


async def check_renewals(applier: Applier, now: datetime) -> int:
    """Store the checks due by `now` that are not stored yet; how many were stored."""
    renewing = [rank for rank in applier.runtime.ruleset.spec.ranks if rank.renewal is not None]
    if not renewing:
        return 0
    counter_ids = {AS_OF_COUNTER, *(bucket_counter(rank.renewal.counter) for rank in renewing if rank.renewal)}
    floor = min(rank.reputation for rank in renewing)
    checks: list[DueCheck] = []
    async with applier.runtime.sessionmaker() as session:
        after: str | None = None
        while True:
            members = await repository.members_from(session, floor, after, PAGE)
            if not members:
                break
            after = members[-1][0]
            counts = await repository.window_counts(session, [user_id for user_id, _ in members], counter_ids)
            for user_id, reputation in members:
                for rank in renewing:
                    if rank.renewal is not None and reputation >= rank.reputation:
                        check = due(counts, user_id, rank.id, rank.renewal, now)
                        if check is not None:
                            checks.append(check)
        stored = await repository.stored_ids(session, SCHEDULE_SOURCE, [check.event_id for check in checks])
    events = [
        ValidEvent(
            source=SCHEDULE_SOURCE,
            id=check.event_id,
            type=RENEWAL_CHECK,
            time=check.at,
            data=check.event_data(SCHEDULE_SOURCE),
        )
        for check in checks
        if check.event_id not in stored
    ]
    if not events:
        return 0
    async with unit_of_work(applier.runtime.sessionmaker) as uow:
        intake = await ingest(applier, uow, events, now)
    return len(intake.accepted)
