"""Perk eligibility: what an expert has against what a perk needs, and exactly what is missing. Pure."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rewards.engine.ranks import standing
from rewards.engine.ruleset import TIER_ORDER, Perk, Rank, Ruleset
from rewards.engine.state import WorkingState


@dataclass(frozen=True)
class Profile:
    """What eligibility reads about one user."""

    user_id: str
    reputation: int
    suspended: bool
    last_active_at: datetime | None
    badges: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # held (badge, tier)
    counters: dict[str, int] = field(default_factory=dict)  # per-user counter totals


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    missing: list[str]  # in words, each a thing the user can act on


def window_open(perk: Perk, now: datetime) -> bool:
    return (perk.opens is None or now >= perk.opens) and (perk.closes is None or now < perk.closes)


def check(ruleset: Ruleset, perk: Perk, profile: Profile, now: datetime) -> Verdict:
    needs = perk.eligibility
    missing: list[str] = []
    if needs.reputation is not None and profile.reputation < needs.reputation:
        missing.append(f"{needs.reputation - profile.reputation:,} more reputation")
    if needs.rank is not None:
        ranks = ruleset.spec.ranks
        wanted = next((rank for rank in ranks if rank.id == needs.rank), None)
        current = standing(ranks, profile.reputation, profile.badges).rank
        if wanted is not None and (current is None or ranks.index(current) < ranks.index(wanted)):
            missing.append(f"the rank {wanted.title}")
    for reference in needs.badges:
        badge_id, _, tier = reference.partition("/")
        badge = ruleset.badges.get(badge_id)
        name = badge.name if badge is not None else badge_id
        floor = TIER_ORDER.get(tier, 0)
        if not any(held == badge_id and TIER_ORDER.get(t, 0) >= floor for held, t in profile.badges):
            missing.append(f"{name} {tier}" if tier else f"the {name} badge")
    for counter_id, at in needs.counters.items():
        value = profile.counters.get(counter_id, 0)
        if value < at:
            counter = ruleset.spec.counters.get(counter_id)
            name = counter.name.lower() if counter is not None else counter_id
            missing.append(f"{at - value:,} more {name}")
    if needs.active_within_days is not None and (
        profile.last_active_at is None or profile.last_active_at < now - timedelta(days=needs.active_within_days)
    ):
        missing.append(f"activity in the last {needs.active_within_days} days")
    if profile.suspended:
        missing.append("an account in good standing (it is suspended)")
    return Verdict(eligible=not missing, missing=missing)


@dataclass(frozen=True)
class Mark:
    """What the decisions that depend on order rest on for one user: the rank title, suspended or not, and the
    perks they qualify for. The apply step looks at it after every event for the users the event changed: a new
    rank is notified with that event, and when `perks` change the batch ends there, so that perks are decided on
    the state as that event left it (see `rewards.events.service.prepare_batch`). Who is offered a seat, waitlisted
    or withdrawn, in what order, and every rank change, is then a function of the log in order, never of where one
    batch ended and the next began."""

    rank: str | None
    suspended: bool
    perks: frozenset[str]


def reputation_floor(ruleset: Ruleset, perk: Perk) -> int:
    """The least reputation anyone eligible for `perk` has (directly, or through the rank it needs)."""
    floor = perk.eligibility.reputation or 0
    if perk.eligibility.rank is not None:
        rank = next((r for r in ruleset.spec.ranks if r.id == perk.eligibility.rank), None)
        floor = max(floor, rank.reputation if rank is not None else 0)
    return floor


class Marker:
    """Computes marks from a working state, reading only what they depend on: most users are far below every
    perk's reputation floor, and for them a mark is a rank lookup and a flag (a full profile, with every badge
    an expert holds, would cost more than the engine's own work on the event)."""

    def __init__(self, ruleset: Ruleset, *, perks: bool) -> None:
        self.ruleset = ruleset
        self.ranks = ruleset.spec.ranks
        self.perks = perks and bool(ruleset.spec.perks)
        self.floor = min((reputation_floor(ruleset, p) for p in ruleset.spec.perks), default=0)
        self.ranks_need_badges = any(rank.badges for rank in self.ranks)
        referenced = {ref.partition("/")[0] for rank in self.ranks for ref in rank.badges}
        referenced |= {ref.partition("/")[0] for perk in ruleset.spec.perks for ref in perk.eligibility.badges}
        self.badge_ids = frozenset(referenced)
        self.counter_ids = sorted({c for perk in ruleset.spec.perks for c in perk.eligibility.counters})

    def rank(self, rank_id: str | None) -> Rank | None:
        return next((rank for rank in self.ranks if rank.id == rank_id), None)

    def mark(self, state: WorkingState, user_id: str, when: datetime) -> Mark:
        user = state.users.get(user_id)
        reputation = user.reputation if user is not None else 0
        suspended = user.suspended if user is not None else False
        deciding = self.perks and reputation >= self.floor and not suspended  # else eligible for none
        held: frozenset[tuple[str, str]] = frozenset()
        if self.badge_ids and (deciding or self.ranks_need_badges):
            held = frozenset(
                (h.badge_id, h.tier) for h in state.badges_of(user_id) if h.badge_id in self.badge_ids and h.held
            )
        rank = standing(self.ranks, reputation, held).rank if self.ranks else None
        eligible: frozenset[str] = frozenset()
        if deciding:
            profile = Profile(
                user_id=user_id,
                reputation=reputation,
                suspended=suspended,
                last_active_at=user.last_active_at if user is not None else None,
                badges=held,
                counters={c: state.counters.get((user_id, c, ""), 0) for c in self.counter_ids},
            )
            eligible = frozenset(
                p.id for p in self.ruleset.spec.perks if check(self.ruleset, p, profile, when).eligible
            )
        return Mark(rank=rank.id if rank is not None else None, suspended=suspended, perks=eligible)


def describe_missing(missing: list[str]) -> str:
    if not missing:
        return ""
    if len(missing) == 1:
        return missing[0]
    return ", ".join(missing[:-1]) + " and " + missing[-1]
