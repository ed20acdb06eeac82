"""Scheduled: a `renewal.check` event for each member whose renewing rank, or renewing perk they hold or were
offered by the rules, is due a warning or a lapse.

The event's time is the moment it fell due, not when this job noticed, and its id names the member, rank (or
perk), kind and lapse: several workers store it once, and applying it (like any event) re-reads the member's
windows at its month. A replay reproduces it from the log."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rewards.apply.applier import Applier
from rewards.apply.ingest import ingest
from rewards.db import unit_of_work
from rewards.engine.renewal import AS_OF_COUNTER, RENEWAL_CHECK, DueCheck, bucket_counter, due
from rewards.engine.ruleset import Perk, Rank
from rewards.events.service import ValidEvent
from rewards.perks import repository as perks_repository
from rewards.renewals import repository

SCHEDULE_SOURCE = "rewards:schedule"
CHECK_EVERY_SECONDS = 60
PAGE = 1000


async def check_renewals(applier: Applier, now: datetime) -> int:
    """Store the checks due by `now` that are not stored yet; how many were stored."""
    spec = applier.runtime.ruleset.spec
    renewing = [rank for rank in spec.ranks if rank.renewal is not None]
    renewing_perks = {perk.id: perk for perk in spec.perks if perk.renewal is not None}
    if not renewing and not renewing_perks:
        return 0
    checks: list[DueCheck] = []
    async with applier.runtime.sessionmaker() as session:
        if renewing:
            checks += await _rank_checks(session, renewing, now)
        if renewing_perks:
            checks += await _perk_checks(session, renewing_perks, now)
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


async def _rank_checks(session: AsyncSession, renewing: list[Rank], now: datetime) -> list[DueCheck]:
    counter_ids = {AS_OF_COUNTER, *(bucket_counter(rank.renewal.counter) for rank in renewing if rank.renewal)}
    floor = min(rank.reputation for rank in renewing)
    checks: list[DueCheck] = []
    after: str | None = None
    while True:
        members = await repository.members_from(session, floor, after, PAGE)
        if not members:
            return checks
        after = members[-1][0]
        counts = await repository.window_counts(session, [user_id for user_id, _ in members], counter_ids)
        for user_id, reputation in members:
            for rank in renewing:
                if rank.renewal is not None and reputation >= rank.reputation:
                    check = due(counts, user_id, rank.id, rank.renewal, now)
                    if check is not None:
                        checks.append(check)


async def _perk_checks(session: AsyncSession, renewing: dict[str, Perk], now: datetime) -> list[DueCheck]:
    """Only for open grants the rules made (see `rewards.perks.service._lapse`): few, as seats are."""
    held = await perks_repository.open_rule_grants_of(session, sorted(renewing))
    counter_ids = {AS_OF_COUNTER, *(bucket_counter(perk.renewal.counter) for perk in renewing.values() if perk.renewal)}
    checks: list[DueCheck] = []
    for start in range(0, len(held), PAGE):
        page = held[start : start + PAGE]
        counts = await repository.window_counts(session, sorted({user_id for user_id, _ in page}), counter_ids)
        for user_id, perk_id in page:
            renewal = renewing[perk_id].renewal
            if renewal is not None and (check := due(counts, user_id, None, renewal, now, perk_id)) is not None:
                checks.append(check)
    return checks
