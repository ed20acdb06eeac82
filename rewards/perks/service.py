"""Use cases of perks: eligibility after events and on a schedule, seats and the waitlist, offers, claims,
codes, expiry, and what managers do by hand.

Lifecycle: eligible -> waitlisted (no free seat) -> pending_approval (if a manager approves) -> offered (seat
held, claim before the deadline) -> active (code handed out) -> expired, revoked or lapsed (its `renewal` window
no longer has enough: see `_lapse`). An offer can also be declined or expire; a request can be denied; a
waitlist entry is withdrawn when the user stops qualifying or the window closes; a suspension ends open grants
(and active ones under `when_suspended: revoke`) as `suspended`, after which the user queues again once
reinstated and qualifying. Every transition that frees a seat promotes the waitlist, oldest entry first.

The waitlist is first come, first served: ordered by the time the user qualified (`queued_at`), then by grant
id. Seat allocation for a perk happens under a lock on its settings row, so several workers never overbook.
"""

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from rewards.audit import service as audit
from rewards.engine.perks import (
    Profile,
    check,
    counter_name,
    describe_missing,
    perk_windows,
    reputation_floor,
    window_open,
    window_short,
)
from rewards.engine.ranks import renewed_ranks
from rewards.engine.renewal import AS_OF_COUNTER, RenewalStatus, bucket_counter, explain, perk_check
from rewards.engine.ruleset import Perk, Rank, Ruleset
from rewards.engine.state import EventInput, WorkingState
from rewards.errors import Conflict, InvalidInput, NotFound
from rewards.inputs import NUL
from rewards.outbox import service as outbox
from rewards.perks import repository
from rewards.perks.models import OPEN_STATUSES, PerkGrantRow
from rewards.perks.schemas import (
    CodesOut,
    PerkAvailableOut,
    PerkDetailsOut,
    PerkGrantOut,
    PerkInReachOut,
    PerkOut,
    PerkRenewalOut,
    PerksOut,
    UserPerksOut,
)
from rewards.renewals import repository as renewals

# How many users a window opening looks at per perk and sweep (highest reputation first); also the page size
# of the check after a replay, which goes through everyone above the floor.
CANDIDATES_PER_SWEEP = 10_000


@dataclass
class Changes:
    """Notifications to write in the caller's transaction, and the rules the change is made under."""

    ruleset: Ruleset
    notifications: list[outbox.Notification] = field(default_factory=list)

    def notify(
        self, topic: str, grant: PerkGrantRow, perk: Perk, now: datetime, key: str | None = None, **extra: object
    ) -> None:
        data: dict[str, object] = {
            "perk": perk.id,
            "name": perk.name,
            "kind": perk.kind,
            "grant_id": grant.id,
            "status": grant.status,
            "respond_by": grant.respond_by.isoformat() if grant.respond_by else None,
            "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
        }
        if perk.kind == "role" and perk.details.group:
            data["group"] = perk.details.group  # the forum adds (granted) or removes (expired, revoked) the user
        data.update(extra)
        self.notifications.append(
            outbox.Notification(
                topic=topic,
                user_id=grant.user_id,
                data=data,
                occurred_at=now,
                # One notification per grant and kind of change: a transition done twice is told once.
                key=key or f"{topic}:{grant.id}",
            )
        )


def _perk(ruleset: Ruleset, perk_id: str) -> Perk:
    for perk in ruleset.spec.perks:
        if perk.id == perk_id:
            return perk
    known = ", ".join(perk.id for perk in ruleset.spec.perks) or "none"
    raise NotFound(f"no perk {perk_id!r} in the published rules (perks: {known})")


async def _capacity(session: AsyncSession, perk: Perk, now: datetime) -> int | None:
    settings = await repository.lock_perk(session, perk.id, now)
    return settings.seats if settings.seats is not None else perk.seats


async def _has_free_seat(session: AsyncSession, perk: Perk, capacity: int | None) -> bool:
    return capacity is None or await repository.seats_taken(session, perk.id) < capacity


async def _activate(session: AsyncSession, perk: Perk, grant: PerkGrantRow, now: datetime, changes: Changes) -> None:
    grant.status = "active"
    grant.activated_at = now
    grant.expires_at = now + timedelta(days=perk.expires_after_days) if perk.expires_after_days else None
    grant.respond_by = None
    grant.updated_at = now
    await session.flush()
    if perk.kind == "beta_access":
        grant.code = await repository.take_code(session, perk.id, grant.id)
    changes.notify("perk.granted", grant, perk, now, code=grant.code)


async def _offer(session: AsyncSession, perk: Perk, grant: PerkGrantRow, now: datetime, changes: Changes) -> None:
    """Give a held seat its next step: the manager's approval, an offer to claim, or the perk itself."""
    grant.offered_at = now
    grant.updated_at = now
    if perk.approval and grant.status != "pending_approval" and grant.decided_by is None:
        grant.status = "pending_approval"
        await session.flush()
        changes.notify("perk.requested", grant, perk, now)
        return
    if perk.claim_within_days:
        grant.status = "offered"
        grant.respond_by = now + timedelta(days=perk.claim_within_days)
        await session.flush()
        changes.notify("perk.offered", grant, perk, now)
        return
    await _activate(session, perk, grant, now, changes)


async def _promote(session: AsyncSession, perk: Perk, now: datetime, changes: Changes) -> None:
    """Freed seats go to the waitlist, oldest first (the caller holds the perk's lock)."""
    capacity = await _capacity(session, perk, now)
    if not window_open(perk, now):
        return
    while await _has_free_seat(session, perk, capacity):
        head = await repository.waitlisted(session, perk.id, limit=1)
        if not head:
            return
        # Time alone may have changed what the next in line qualifies for (recent activity, a suspension).
        profiles = await profiles_from_db(
            session, [head[0].user_id], changes.ruleset.spec.ranks, changes.ruleset.spec.perks
        )
        verdict = check(changes.ruleset, perk, profiles[0], now) if profiles else None
        if verdict is not None and not verdict.eligible:
            reason = "no longer qualifies: needs " + describe_missing(verdict.missing)
            await _end(session, perk, head[0], "withdrawn", reason, now, changes)
            continue
        await _offer(session, perk, head[0], now, changes)


async def _end(
    session: AsyncSession,
    perk: Perk,
    grant: PerkGrantRow,
    status: str,
    reason: str,
    now: datetime,
    changes: Changes,
    ended_at: datetime | None = None,
) -> None:
    """`ended_at`: when it ended, if before `now` (a renewal window that lapsed at the first of a month)."""
    held_seat = grant.status in repository.SEAT_STATUSES
    grant.status = status
    grant.ended_at = ended_at or now
    grant.end_reason = reason
    grant.updated_at = now
    await session.flush()
    topic = {
        "expired": "perk.expired",
        "revoked": "perk.revoked",
        "suspended": "perk.revoked",  # `status` in the data says why; a role's group is removed either way
        "lapsed": "perk.expired",  # its renewal window lapsed (`status`, `reason`); the group is removed too
        "offer_expired": "perk.offer_expired",
    }
    changes.notify(topic.get(status, f"perk.{status}"), grant, perk, now, reason=reason)
    if held_seat:
        await _promote(session, perk, now, changes)


# -- eligibility ------------------------------------------------------------------------------------------


def profiles_from_state(
    state: WorkingState,
    user_ids: Sequence[str],
    counter_ids: Sequence[str] | None = None,
    perks: Sequence[Perk] = (),
    ranks: Sequence[Rank] = (),
) -> list[Profile]:
    """Profiles of users the engine just changed, read from its working state (no queries). With the ids of the
    per-user counters, each is looked up; without, the whole state is scanned (fine once, not per batch: a
    state kept between batches holds every post's counters). With `perks`, the windows of those that must be
    renewed too; with `ranks`, which renewing ranks the member still holds (a perk needing a lapsed rank is not
    met)."""
    profiles = []
    totals: dict[str, dict[str, int]] = {}
    if counter_ids is not None:
        for user_id in user_ids:
            found = {c: state.counters[(user_id, c, "")] for c in counter_ids if (user_id, c, "") in state.counters}
            if found:
                totals[user_id] = found
    else:
        wanted = set(user_ids)
        for (owner, counter_id, scope), value in state.counters.items():
            if scope == "" and owner in wanted:
                totals.setdefault(owner, {})[counter_id] = value
    for user_id in user_ids:
        user = state.users.get(user_id)
        if user is None:
            continue
        profiles.append(
            Profile(
                user_id=user_id,
                reputation=user.reputation,
                suspended=user.suspended,
                last_active_at=user.last_active_at,
                badges=frozenset((h.badge_id, h.tier) for h in state.badges_of(user_id) if h.held),
                counters=totals.get(user_id, {}),
                renewed=renewed_ranks(ranks, state.counters, user_id, user.reputation),
                windows=perk_windows(perks, state.counters, user_id),
            )
        )
    return profiles


async def profiles_from_db(
    session: AsyncSession, user_ids: Sequence[str], ranks: Sequence[Rank] = (), perks: Sequence[Perk] = ()
) -> list[Profile]:
    """With `ranks`, the windows of those that must be renewed are read too (for members within their reach);
    with `perks`, those of the perks that must be renewed (for everyone: a perk's own window is what keeps it)."""
    users, counters, badges = await repository.profile_rows(session, user_ids)
    windows = await renewals.windows(session, ranks, ((user.user_id, user.reputation) for user in users))
    renewing = [perk for perk in perks if perk.renewal is not None]
    perk_counts = (
        await renewals.window_counts(
            session,
            [user.user_id for user in users],
            {AS_OF_COUNTER, *(bucket_counter(perk.renewal.counter) for perk in renewing if perk.renewal)},
        )
        if renewing and users
        else {}
    )
    by_user_counters: dict[str, dict[str, int]] = {}
    for owner, counter_id, value in counters:
        by_user_counters.setdefault(owner, {})[counter_id] = value
    by_user_badges: dict[str, set[tuple[str, str]]] = {}
    for user_id, badge_id, tier in badges:
        by_user_badges.setdefault(user_id, set()).add((badge_id, tier))
    return [
        Profile(
            user_id=user.user_id,
            reputation=user.reputation,
            suspended=user.suspended,
            last_active_at=user.last_active_at,
            badges=frozenset(by_user_badges.get(user.user_id, ())),
            counters=by_user_counters.get(user.user_id, {}),
            renewed=renewed_ranks(ranks, windows, user.user_id, user.reputation),
            windows=perk_windows(renewing, perk_counts, user.user_id),
        )
        for user in users
    ]


# Who ends a perk whose renewal window lapsed, in the audit log.
RENEWAL_ACTOR = "rewards:renewal"

# A closed grant with one of these statuses means the perk is not offered to that user again by the rules
# (a manager can still grant it). A place withdrawn (no longer qualifying, window closed) or ended by a
# suspension does not: the user queues again when they qualify again.
FINAL_STATUSES = frozenset({"declined", "offer_expired", "denied", "expired", "revoked"})


async def lock_perks(session: AsyncSession, ruleset: Ruleset, now: datetime) -> None:
    """Lock every perk's row, in one global order (by id), so that transactions changing several perks never
    wait for each other in a cycle. Applying events takes the apply cursor first, then these."""
    for perk_id in sorted(perk.id for perk in ruleset.spec.perks):
        await repository.lock_perk(session, perk_id, now)


async def reconcile(
    session: AsyncSession, ruleset: Ruleset, profiles: Sequence[Profile], now: datetime, *, notify: bool = True
) -> int:
    """Re-check these users against every perk: queue or offer the newly eligible, take waitlist places from
    those who stopped qualifying, apply the suspension policy. Returns notifications written.

    A first read, without locks, finds who may need a change; the changes are then made under the perks'
    locks against a fresh read, so concurrent reconciles, claims and sweeps never act on a stale grant."""
    if not ruleset.spec.perks or not profiles:
        return 0
    grants = await repository.grants_of_users(session, [profile.user_id for profile in profiles])
    open_grants = {(g.perk_id, g.user_id): g.status for g in grants if g.status in OPEN_STATUSES}
    final = {(g.perk_id, g.user_id) for g in grants if g.status in FINAL_STATUSES}
    made_by_rules = {(g.perk_id, g.user_id) for g in grants if g.status in OPEN_STATUSES and g.source == "rule"}
    work: list[tuple[Perk, Profile]] = []
    for perk in sorted(ruleset.spec.perks, key=lambda perk: perk.id):
        for profile in profiles:
            key = (perk.id, profile.user_id)
            status = open_grants.get(key)
            if status is not None:
                # Only a suspension, a renewal window that lapsed, or a waitlisted user no longer qualifying,
                # changes an open grant.
                if (
                    (profile.suspended and (status != "active" or perk.when_suspended == "revoke"))
                    or (key in made_by_rules and window_short(perk, profile) is not None)
                    or (status == "waitlisted" and not check(ruleset, perk, profile, now).eligible)
                ):
                    work.append((perk, profile))
            elif key not in final and window_open(perk, now) and check(ruleset, perk, profile, now).eligible:
                work.append((perk, profile))
    if not work:
        return 0
    await lock_perks(session, ruleset, now)
    changes = Changes(ruleset)
    for perk, profile in work:
        verdict = check(ruleset, perk, profile, now)
        grant = await repository.open_grant(session, perk.id, profile.user_id)
        if grant is not None:
            if profile.suspended and (grant.status != "active" or perk.when_suspended == "revoke"):
                await _end(session, perk, grant, "suspended", "the account is suspended", now, changes)
            elif (short := window_short(perk, profile)) is not None and grant.source == "rule":
                await _lapse(session, ruleset, perk, grant, short, now, changes)
            elif grant.status == "waitlisted" and not verdict.eligible:
                reason = "no longer qualifies: needs " + describe_missing(verdict.missing)
                await _end(session, perk, grant, "withdrawn", reason, now, changes)
            continue
        if not verdict.eligible or await repository.has_grant_in(session, perk.id, profile.user_id, FINAL_STATUSES):
            continue
        await _queue(session, perk, profile.user_id, "rule", now, changes)
    await outbox.record(session, changes.notifications, now, deliver=notify)
    return len(changes.notifications) if notify else 0


async def _lapse(
    session: AsyncSession,
    ruleset: Ruleset,
    perk: Perk,
    grant: PerkGrantRow,
    short: RenewalStatus,
    now: datetime,
    changes: Changes,
) -> None:
    """A renewal window that lapsed: an active perk ends (`lapsed`, when the window fell short, not before it
    began), an offer, a request or a waitlist place is withdrawn; told with the reason and audit-logged. Only
    grants the rules made: one given by hand or as a prize was the manager's decision."""
    assert perk.renewal is not None
    before = grant.status
    status = "lapsed" if before == "active" else "withdrawn"
    reason = "lapsed: " + explain(perk.name, counter_name(ruleset, perk.renewal.counter), perk.renewal, short)
    began = grant.activated_at if before == "active" else grant.queued_at
    ended_at = max(short.lapsed_at, began) if short.lapsed_at is not None and began is not None else None
    await _end(session, perk, grant, status, reason, now, changes, ended_at)
    await audit.record(
        session,
        actor=RENEWAL_ACTOR,
        action=f"perk.{status}",
        now=now,
        user_id=grant.user_id,
        target=f"perk:{perk.id}",
        reason=reason,
        detail={"grant": grant.id, "was": before, "ended_at": grant.ended_at.isoformat() if grant.ended_at else None},
    )


async def _queue(
    session: AsyncSession,
    perk: Perk,
    user_id: str,
    source: str,
    now: datetime,
    changes: Changes,
    decided_by: str | None = None,
) -> PerkGrantRow:
    """A new grant: offered if a seat is free and nobody waits, else waitlisted. `decided_by` (a prize) skips
    the manager's approval."""
    capacity = await _capacity(session, perk, now)
    grant = await repository.add_grant(
        session,
        PerkGrantRow(
            perk_id=perk.id,
            user_id=user_id,
            status="waitlisted",
            queued_at=now,
            source=source,
            decided_by=decided_by,
            updated_at=now,
        ),
    )
    # Someone already waiting goes first: a new entry only gets a seat when nobody is ahead of it.
    ahead = await repository.waitlist_position(session, grant) > 1
    if not ahead and await _has_free_seat(session, perk, capacity):
        await _offer(session, perk, grant, now, changes)
    else:
        changes.notify("perk.waitlisted", grant, perk, now)
    return grant


async def redecide(
    session: AsyncSession, ruleset: Ruleset, now: datetime, *, actor: str, why: str, notify: bool = True
) -> int:
    """After the log was applied again under other rules (a retroactive publish, a rollback, a replay): the open
    grants the rules made are decided again against the rebuilt state. An unclaimed offer, a request waiting for
    approval or a waitlist place the rules no longer justify is withdrawn (its seat goes to the next in line who
    qualifies); an active perk follows the perk's `when_rules_no_longer_qualify`. Each is notified and in the
    audit log, with `why` (which publication) and what is missing. Grants given by hand or as prizes stay. Run
    before `reconcile_everyone`, which makes the offers the rules newly justify. Returns notifications written."""
    perks = {perk.id: perk for perk in ruleset.spec.perks}
    grants = [grant for grant in await repository.open_grants_made_by_rules(session) if grant.perk_id in perks]
    if not grants:
        return 0
    profiles = {
        profile.user_id: profile
        for profile in await profiles_from_db(
            session, sorted({grant.user_id for grant in grants}), ruleset.spec.ranks, ruleset.spec.perks
        )
    }
    unjustified: list[tuple[Perk, str, str]] = []
    waiting = {grant.user_id for grant in grants if grant.status == "waitlisted"}
    for grant in grants:
        perk = perks[grant.perk_id]
        if grant.status == "active" and perk.when_rules_no_longer_qualify == "keep":
            continue
        profile = profiles.get(grant.user_id)
        verdict = check(ruleset, perk, profile, now) if profile is not None else None
        if verdict is not None and verdict.eligible:
            continue
        missing = describe_missing(verdict.missing) if verdict is not None else "a reputation"
        unjustified.append((perk, grant.user_id, missing))
    if not unjustified:
        return 0
    # Waitlist places first: a seat freed by a withdrawn offer then goes to someone the rules still justify.
    unjustified.sort(key=lambda item: item[1] not in waiting)
    await lock_perks(session, ruleset, now)
    changes = Changes(ruleset)
    for perk, user_id, missing in unjustified:
        fresh = await repository.open_grant(session, perk.id, user_id)
        if fresh is None or fresh.source != "rule":
            continue
        grant = fresh
        before = grant.status
        status = "revoked" if before == "active" else "withdrawn"
        reason = f"{why}: the rules no longer justify it (needs {missing})"
        await _end(session, perk, grant, status, reason, now, changes)
        await audit.record(
            session,
            actor=actor,
            action=f"perk.{status}",
            now=now,
            user_id=user_id,
            target=f"perk:{perk.id}",
            reason=reason,
            detail={"grant": grant.id, "was": before, "ruleset_version": ruleset.version},
        )
    await outbox.record(session, changes.notifications, now, deliver=notify)
    return len(changes.notifications) if notify else 0


async def reconcile_everyone(session: AsyncSession, ruleset: Ruleset, now: datetime, *, notify: bool) -> int:
    """Check everyone above the lowest reputation a perk asks for, page by page, highest first (after a
    replay)."""
    if not ruleset.spec.perks:
        return 0
    floor = min(reputation_floor(ruleset, perk) for perk in ruleset.spec.perks)
    written = 0
    after: tuple[int, str] | None = None
    while page := await repository.candidates(session, floor, CANDIDATES_PER_SWEEP, after):
        users = [user_id for user_id, _ in page]
        written += await reconcile(
            session,
            ruleset,
            await profiles_from_db(session, users, ruleset.spec.ranks, ruleset.spec.perks),
            now,
            notify=notify,
        )
        after = (page[-1][1], page[-1][0])
    return written


@dataclass(frozen=True)
class BatchCandidates:
    """The users a batch changed, for perk eligibility: those worth a look whatever they hold (`likely`), the
    rest (looked at only if they hold or wait for a perk), and everyone's profile as the batch left it."""

    likely: list[str]
    others: list[str]
    profiles: dict[str, Profile]
    # The schedule's perk renewal warnings in the batch: (user, perk, the time it fell due).
    warnings: list[tuple[str, str, datetime]] = field(default_factory=list)


def batch_candidates(
    ruleset: Ruleset, state: WorkingState, events: Sequence[EventInput] = ()
) -> BatchCandidates | None:
    """Taken from the state right after the batch is computed (the state then moves on to the next batch).

    Most users are far from any perk: only those above the lowest reputation a perk asks for (directly or
    through a rank) and the suspended are certain to be looked at; and those a perk's renewal check names (the
    batch ends at such a check: `rewards.engine.marks`)."""
    if not ruleset.spec.perks:
        return None
    floor = min(reputation_floor(ruleset, perk) for perk in ruleset.spec.perks)
    checks = [(found, event.time) for event in events if (found := perk_check(event.type, event.source, event.data))]
    checked = {user_id for (user_id, _, _), _ in checks}
    likely: list[str] = []
    others: list[str] = []
    for user_id in sorted(state.changed_users | checked):
        user = state.users.get(user_id)
        if user is None:
            continue
        (likely if user.reputation >= floor or user.suspended or user_id in checked else others).append(user_id)
    counter_ids = [counter_id for counter_id, counter in ruleset.counters.items() if counter.per == "user"]
    profiles = profiles_from_state(state, [*likely, *others], counter_ids, ruleset.spec.perks, ruleset.spec.ranks)
    warnings = [(user_id, perk_id, at) for (user_id, perk_id, kind), at in checks if kind == "warn"]
    return BatchCandidates(likely, others, {profile.user_id: profile for profile in profiles}, warnings)


async def after_batch(
    session: AsyncSession, ruleset: Ruleset, candidates: BatchCandidates | None, now: datetime, *, notify: bool
) -> int:
    """The apply step's hook: re-check the users this batch changed who may gain or lose a perk: the likely
    ones, and those who already hold or wait for a perk."""
    if candidates is None:  # the ruleset declares no perk
        return 0
    holders = await repository.users_with_open_grants(session, candidates.others)
    users = sorted({*candidates.likely, *holders})
    profiles = [candidates.profiles[user_id] for user_id in users if user_id in candidates.profiles]
    written = await _warn_renewals(session, ruleset, candidates, now, notify=notify)
    return written + await reconcile(session, ruleset, profiles, now, notify=notify)


async def _warn_renewals(
    session: AsyncSession, ruleset: Ruleset, candidates: BatchCandidates, now: datetime, *, notify: bool
) -> int:
    """The schedule's warnings: `perk.renewal_due` to the holder of an active perk (made by the rules) whose
    window lapses soon, once per grant and lapse; none when the member renewed since the check was stored."""
    perks = {perk.id: perk for perk in ruleset.spec.perks if perk.renewal is not None}
    changes = Changes(ruleset)
    for user_id, perk_id, at in candidates.warnings:
        perk, profile = perks.get(perk_id), candidates.profiles.get(user_id)
        where = profile.windows.get(perk_id) if profile is not None and profile.windows is not None else None
        if perk is None or perk.renewal is None or where is None or where.lapses_at is None:
            continue
        warns_at = where.warns_at(perk.renewal)
        if warns_at is None or not warns_at <= at < where.lapses_at:
            continue
        # The perks' locks before the grant's row, in the order every other change to perks takes them (a claim
        # racing this warning would otherwise wait for it in a cycle).
        await lock_perks(session, ruleset, now)
        grant = await repository.open_grant(session, perk_id, user_id)
        if grant is None or grant.status != "active" or grant.source != "rule":
            continue
        name = counter_name(ruleset, perk.renewal.counter)
        changes.notify(
            "perk.renewal_due",
            grant,
            perk,
            at,
            # Once per grant and lapse: renewed, it may lapse (and be warned of) again later.
            key=f"perk.renewal_due:{grant.id}:{where.lapses_at.date().isoformat()}",
            lapses_at=where.lapses_at.isoformat(),
            count=where.count,
            at=where.at,
            needed=where.needed_by_then,
            reason=explain(perk.name, name, perk.renewal, where),
        )
    await outbox.record(session, changes.notifications, now, deliver=notify)
    return len(changes.notifications) if notify else 0


# -- the schedule ---------------------------------------------------------------------------------------


async def sweep(session: AsyncSession, ruleset: Ruleset, now: datetime) -> int:
    """Time-based changes: offers past their deadline, perks past their expiry, windows opening (offers to
    those who qualify) and closing (the waitlist is withdrawn), suspended holders. Idempotent."""
    changes = Changes(ruleset)
    perks = {perk.id: perk for perk in ruleset.spec.perks}
    due_offers = [g.id for g in await repository.due_offers(session, now) if g.perk_id in perks]
    due_expiries = [g.id for g in await repository.due_expiries(session, now) if g.perk_id in perks]
    await lock_perks(session, ruleset, now)
    for grant_id in due_offers:
        grant = await repository.get_grant(session, grant_id)  # fresh, under the lock: another sweep may have
        if grant.status == "offered" and grant.respond_by is not None and grant.respond_by <= now:  # ended it
            await _end(session, perks[grant.perk_id], grant, "offer_expired", "not claimed in time", now, changes)
    for grant_id in due_expiries:
        grant = await repository.get_grant(session, grant_id)
        perk = perks[grant.perk_id]
        if grant.status == "active" and grant.expires_at is not None and grant.expires_at <= now:
            await _end(session, perk, grant, "expired", f"ended after {perk.expires_after_days} days", now, changes)
    for perk in sorted(ruleset.spec.perks, key=lambda perk: perk.id):
        if perk.closes is not None and now >= perk.closes:
            for grant in await repository.waitlisted(session, perk.id):
                await _end(session, perk, grant, "withdrawn", "the perk's window closed", now, changes)
            continue
        if window_open(perk, now):
            await _promote(session, perk, now, changes)
    await outbox.record(session, changes.notifications, now)
    written = len(changes.notifications)
    # Windows that opened, and eligibility that time alone changes: check likely candidates.
    open_perks = [perk for perk in ruleset.spec.perks if window_open(perk, now)]
    if open_perks:
        floor = min(reputation_floor(ruleset, perk) for perk in open_perks)
        candidates = [user_id for user_id, _ in await repository.candidates(session, floor, CANDIDATES_PER_SWEEP)]
        profiles = await profiles_from_db(session, candidates, ruleset.spec.ranks, ruleset.spec.perks)
        written += await reconcile(session, ruleset, profiles, now)
    suspended = await repository.active_of_suspended(session)
    if suspended:
        written += await reconcile(
            session,
            ruleset,
            await profiles_from_db(
                session, sorted({g.user_id for g in suspended}), ruleset.spec.ranks, ruleset.spec.perks
            ),
            now,
        )
    return written


# -- the expert's actions ---------------------------------------------------------------------------------


async def claim(session: AsyncSession, ruleset: Ruleset, user_id: str, perk_id: str, now: datetime) -> PerkGrantOut:
    perk, grant = await _locked_grant(session, ruleset, perk_id, user_id, now)
    if grant is None or grant.status != "offered":
        raise Conflict(_no_offer(perk, grant))
    if grant.respond_by is not None and grant.respond_by <= now:
        # The scheduled sweep ends it and passes the seat on (this request's changes would be rolled back).
        raise Conflict(f"the offer of {perk.name} expired at {grant.respond_by.isoformat()}")
    changes = Changes(ruleset)
    await _activate(session, perk, grant, now, changes)
    await outbox.record(session, changes.notifications, now)
    return await _grant_out(session, ruleset, grant)


async def decline(session: AsyncSession, ruleset: Ruleset, user_id: str, perk_id: str, now: datetime) -> PerkGrantOut:
    perk, grant = await _locked_grant(session, ruleset, perk_id, user_id, now)
    if grant is None or grant.status not in ("offered", "waitlisted", "pending_approval"):
        raise Conflict(_no_offer(perk, grant))
    changes = Changes(ruleset)
    await _end(session, perk, grant, "declined", "declined by the expert", now, changes)
    await outbox.record(session, changes.notifications, now)
    return await _grant_out(session, ruleset, grant)


def _no_offer(perk: Perk, grant: PerkGrantRow | None) -> str:
    if grant is None:
        return f"there is no open offer of {perk.name} for this user"
    return f"{perk.name} is {grant.status.replace('_', ' ')} for this user, not offered"


# -- managers ---------------------------------------------------------------------------------------------


async def _locked_grant(
    session: AsyncSession, ruleset: Ruleset, perk_id: str, user_id: str, now: datetime
) -> tuple[Perk, PerkGrantRow | None]:
    """The perk, locked for this transaction, and the user's open grant of it, read afresh under the lock."""
    perk = _perk(ruleset, perk_id)
    await repository.lock_perk(session, perk.id, now)
    return perk, await repository.open_grant(session, perk.id, user_id)


def _pending_request(perk: Perk, grant: PerkGrantRow | None, user_id: str) -> PerkGrantRow:
    if grant is None or grant.status != "pending_approval":
        raise Conflict(f"{user_id} has no request for {perk.name} awaiting approval")
    return grant


async def approve(
    session: AsyncSession, ruleset: Ruleset, perk_id: str, user_id: str, actor: str, reason: str, now: datetime
) -> PerkGrantOut:
    perk, grant = await _locked_grant(session, ruleset, perk_id, user_id, now)
    grant = _pending_request(perk, grant, user_id)
    grant.decided_by = actor
    changes = Changes(ruleset)
    await _offer(session, perk, grant, now, changes)
    await _finish(session, changes, actor, "perk.approve", perk, user_id, reason, now)
    return await _grant_out(session, ruleset, grant)


async def deny(
    session: AsyncSession, ruleset: Ruleset, perk_id: str, user_id: str, actor: str, reason: str, now: datetime
) -> PerkGrantOut:
    perk, grant = await _locked_grant(session, ruleset, perk_id, user_id, now)
    grant = _pending_request(perk, grant, user_id)
    grant.decided_by = actor
    changes = Changes(ruleset)
    await _end(session, perk, grant, "denied", reason, now, changes)
    await _finish(session, changes, actor, "perk.deny", perk, user_id, reason, now)
    return await _grant_out(session, ruleset, grant)


async def grant_by_hand(
    session: AsyncSession, ruleset: Ruleset, perk_id: str, user_id: str, actor: str, reason: str, now: datetime
) -> PerkGrantOut:
    """A manager's grant: active at once, whatever the eligibility and the seats (it still takes a seat). Only to
    a member some event has named: an id typed wrong would hold a seat nobody can see or claim."""
    perk, grant = await _locked_grant(session, ruleset, perk_id, user_id, now)
    if not await profiles_from_db(session, [user_id]):
        raise NotFound(
            f"user {user_id!r} has not appeared in any event yet: check the id (the forum's user id, as its events "
            "name it); a member can be granted a perk once an event names them"
        )
    if grant is not None and grant.status == "active":
        raise Conflict(f"{user_id} already has {perk.name}")
    changes = Changes(ruleset)
    if grant is None:
        grant = await repository.add_grant(
            session,
            PerkGrantRow(
                perk_id=perk.id, user_id=user_id, status="waitlisted", queued_at=now, source="manual", updated_at=now
            ),
        )
    grant.decided_by = actor
    grant.offered_at = grant.offered_at or now
    await _activate(session, perk, grant, now, changes)
    await _finish(session, changes, actor, "perk.grant", perk, user_id, reason, now)
    return await _grant_out(session, ruleset, grant)


async def revoke(
    session: AsyncSession, ruleset: Ruleset, perk_id: str, user_id: str, actor: str, reason: str, now: datetime
) -> PerkGrantOut:
    perk, grant = await _locked_grant(session, ruleset, perk_id, user_id, now)
    if grant is None:
        raise NotFound(f"{user_id} has no open grant of {perk.name}")
    grant.decided_by = actor
    changes = Changes(ruleset)
    await _end(session, perk, grant, "revoked", reason, now, changes)
    await _finish(session, changes, actor, "perk.revoke", perk, user_id, reason, now)
    return await _grant_out(session, ruleset, grant)


async def offer_prize(
    session: AsyncSession, ruleset: Ruleset, perk_id: str, user_id: str, actor: str, reason: str, now: datetime
) -> bool:
    """A leaderboard's prize: the perk is offered (or the winner queued for a seat) whatever the eligibility.
    False when the user already has it open, or the perk is not in the published rules."""
    perk = next((p for p in ruleset.spec.perks if p.id == perk_id), None)
    if perk is None:
        return False
    await repository.lock_perk(session, perk.id, now)
    if await repository.open_grant(session, perk.id, user_id) is not None:
        return False
    changes = Changes(ruleset)
    await _queue(session, perk, user_id, "board", now, changes, decided_by=actor)
    await _finish(session, changes, actor, "perk.prize", perk, user_id, reason, now)
    return True


async def upload_codes(
    session: AsyncSession, ruleset: Ruleset, perk_id: str, codes: list[str], actor: str, now: datetime
) -> CodesOut:
    perk = _perk(ruleset, perk_id)
    if perk.kind != "beta_access":
        raise InvalidInput(f"{perk.name} is a {perk.kind} perk; code pools are for beta_access perks")
    cleaned = list(dict.fromkeys(code.strip() for code in codes if code.strip()))
    if not cleaned:
        raise InvalidInput("no codes given: send a list of non-empty strings")
    if any(len(code) > 200 for code in cleaned):
        raise InvalidInput("a code is longer than 200 characters")
    with_nul = next((number for number, code in enumerate(cleaned, 1) if NUL in code), None)
    if with_nul is not None:
        raise InvalidInput(f"code {with_nul} (of the non-empty ones) contains the NUL character (\\u0000)")
    await repository.lock_perk(session, perk.id, now)
    added = await repository.add_codes(session, perk.id, cleaned, now)
    changes = Changes(ruleset)
    issued = 0
    for grant in await repository.active_without_code(session, perk.id):
        grant.code = await repository.take_code(session, perk.id, grant.id)
        if grant.code is None:
            break
        issued += 1
        changes.notify("perk.code_issued", grant, perk, now, code=grant.code)
    await _finish(session, changes, actor, "perk.codes_upload", perk, None, f"{added} codes", now, {"added": added})
    return CodesOut(
        perk_id=perk.id,
        added=added,
        codes_left=await repository.codes_left(session, perk.id),
        codes_issued_to_waiting=issued,
    )


async def set_seats(
    session: AsyncSession, ruleset: Ruleset, perk_id: str, seats: int | None, actor: str, now: datetime
) -> PerkOut:
    """Change a perk's seats (None: back to the rules file's number). Never below the seats held ("2 of 1"
    would keep holders in seats that no longer exist): the manager revokes grants first, which says who loses one."""
    perk = _perk(ruleset, perk_id)
    await repository.lock_perk(session, perk.id, now)
    wanted = seats if seats is not None else perk.seats
    held = await repository.seats_taken(session, perk.id)
    if wanted is not None and wanted < held:
        counts = await repository.status_counts(session)
        holding = ", ".join(
            f"{counts[(perk.id, status)]} {status.replace('_', ' ')}"
            for status in repository.SEAT_STATUSES
            if counts.get((perk.id, status))
        )
        asked = f"{wanted} seats" if seats is not None else f"the rules file's {wanted} seats"
        raise Conflict(
            f"{held} members hold seats of {perk.name} ({holding}), more than {asked}: set at least {held}, or "
            "revoke grants first (each frees its seat) and then lower the seats",
            detail={"seats_held": held, "seats": wanted},
        )
    await repository.set_seats(session, perk.id, seats, now)
    changes = Changes(ruleset)
    await _promote(session, perk, now, changes)
    await _finish(session, changes, actor, "perk.set_seats", perk, None, None, now, {"seats": seats})
    return (await catalogue(session, ruleset, only=perk.id)).perks[0]


async def _finish(
    session: AsyncSession,
    changes: Changes,
    actor: str,
    action: str,
    perk: Perk,
    user_id: str | None,
    reason: str | None,
    now: datetime,
    detail: dict[str, object] | None = None,
) -> None:
    await outbox.record(session, changes.notifications, now)
    await audit.record(
        session, actor=actor, action=action, now=now, user_id=user_id, target=perk.id, reason=reason,
        detail=dict(detail or {}),
    )  # fmt: skip


# -- reading ----------------------------------------------------------------------------------------------


def _details(perk: Perk) -> PerkDetailsOut:
    return PerkDetailsOut(**perk.details.model_dump())


def _renewal_out(
    ruleset: Ruleset, perk: Perk | None, grant: PerkGrantRow, profile: Profile | None
) -> PerkRenewalOut | None:
    """An active perk that must be renewed: until when it is kept, and what keeps it."""
    if perk is None or perk.renewal is None or grant.status != "active" or grant.source != "rule":
        return None
    where = profile.windows.get(perk.id) if profile is not None and profile.windows is not None else None
    if where is None or not where.held:
        return None
    name = counter_name(ruleset, perk.renewal.counter)
    return PerkRenewalOut(
        counter=perk.renewal.counter,
        counter_name=name,
        at=perk.renewal.at,
        window_months=perk.renewal.months,
        count=where.count,
        until=where.lapses_at,
        warn_from=where.warns_at(perk.renewal),
        needed_by_then=where.needed_by_then,
        explanation=explain(perk.name, name, perk.renewal, where),
    )


async def _grant_out(
    session: AsyncSession, ruleset: Ruleset, grant: PerkGrantRow, profile: Profile | None = None
) -> PerkGrantOut:
    perk = next((p for p in ruleset.spec.perks if p.id == grant.perk_id), None)
    position = await repository.waitlist_position(session, grant) if grant.status == "waitlisted" else None
    code_status = None
    if perk is not None and perk.kind == "beta_access" and grant.status == "active":
        code_status = "issued" if grant.code else "awaiting_codes"
    return PerkGrantOut(
        grant_id=grant.id,
        perk_id=grant.perk_id,
        name=perk.name if perk else grant.perk_id,
        kind=perk.kind if perk else "unknown",
        status=grant.status,
        queued_at=grant.queued_at,
        offered_at=grant.offered_at,
        respond_by=grant.respond_by,
        activated_at=grant.activated_at,
        expires_at=grant.expires_at,
        ended_at=grant.ended_at,
        end_reason=grant.end_reason,
        code=grant.code,
        code_status=code_status,
        waitlist_position=position,
        details=_details(perk) if perk else PerkDetailsOut(date=None, place=None, agenda=None, group=None, url=None),
        renewal=_renewal_out(ruleset, perk, grant, profile),
    )


async def user_perks(session: AsyncSession, ruleset: Ruleset, user_id: str, now: datetime) -> UserPerksOut:
    profiles = await profiles_from_db(session, [user_id], ruleset.spec.ranks, ruleset.spec.perks)
    if not profiles:
        raise NotFound(f"user {user_id!r} has not appeared in any event yet")
    profile = profiles[0]
    grants = await repository.grants_of_user(session, user_id)
    outs = [await _grant_out(session, ruleset, grant, profile) for grant in grants]
    had = {grant.perk_id for grant in grants}
    in_reach: list[PerkInReachOut] = []
    not_open: list[PerkAvailableOut] = []
    for perk in ruleset.spec.perks:
        if perk.id in had:
            continue
        verdict = check(ruleset, perk, profile, now)
        if not verdict.eligible:
            in_reach.append(
                PerkInReachOut(
                    perk_id=perk.id,
                    name=perk.name,
                    kind=perk.kind,
                    description=perk.description,
                    missing=verdict.missing,
                    missing_text=describe_missing(verdict.missing),
                )
            )
        elif not window_open(perk, now):
            note = (
                f"opens {perk.opens:%Y-%m-%d %H:%M} UTC"
                if perk.opens is not None and now < perk.opens
                else "closed to new offers"
            )
            not_open.append(
                PerkAvailableOut(
                    perk_id=perk.id, name=perk.name, kind=perk.kind, description=perk.description, note=note
                )
            )
    return UserPerksOut(
        user_id=user_id,
        active=[o for o in outs if o.status == "active"],
        offered=[o for o in outs if o.status == "offered"],
        pending_approval=[o for o in outs if o.status == "pending_approval"],
        waitlisted=[o for o in outs if o.status == "waitlisted"],
        in_reach=in_reach,
        eligible_not_open=not_open,
        past=[o for o in outs if o.status not in OPEN_STATUSES],
    )


async def catalogue(session: AsyncSession, ruleset: Ruleset, only: str | None = None) -> PerksOut:
    counts = await repository.status_counts(session)
    overrides = await repository.seat_overrides(session)
    perks: list[PerkOut] = []
    for perk in ruleset.spec.perks:
        if only is not None and perk.id != only:
            continue
        statuses = {status: n for (perk_id, status), n in counts.items() if perk_id == perk.id}
        perks.append(
            PerkOut(
                id=perk.id,
                name=perk.name,
                kind=perk.kind,
                description=perk.description,
                seats=overrides.get(perk.id, perk.seats),
                seats_taken=sum(statuses.get(s, 0) for s in repository.SEAT_STATUSES),
                waitlist=statuses.get("waitlisted", 0),
                codes_left=await repository.codes_left(session, perk.id) if perk.kind == "beta_access" else None,
                opens=perk.opens,
                closes=perk.closes,
                approval=perk.approval,
                claim_within_days=perk.claim_within_days,
                expires_after_days=perk.expires_after_days,
                statuses=statuses,
                details=_details(perk),
            )
        )
    return PerksOut(perks=perks)


async def attendees_csv(session: AsyncSession, ruleset: Ruleset, perk_id: str) -> str:
    """Holders of the perk (a workshop's attendee list), as CSV: user, status, since, until, code."""
    perk = _perk(ruleset, perk_id)
    rows = await repository.grants_of_perk(session, perk.id, ("active",))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["user_id", "status", "activated_at", "expires_at", "code"])
    for row in rows:
        writer.writerow(
            [
                row.user_id,
                row.status,
                row.activated_at.isoformat() if row.activated_at else "",
                row.expires_at.isoformat() if row.expires_at else "",
                row.code or "",
            ]
        )
    return buffer.getvalue()
