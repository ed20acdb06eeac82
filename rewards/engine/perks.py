"""Perk eligibility: what an expert has against what a perk needs, and exactly what is missing. Pure."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from rewards.engine.ranks import standing
from rewards.engine.renewal import Counts, RenewalStatus, lapsed_at, status
from rewards.engine.ruleset import TIER_ORDER, Perk, Ruleset


@dataclass(frozen=True)
class Profile:
    """What eligibility reads about one user."""

    user_id: str
    reputation: int
    suspended: bool
    last_active_at: datetime | None
    badges: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # held (badge, tier)
    counters: dict[str, int] = field(default_factory=dict)  # per-user counter totals
    # The renewing ranks whose windows have enough (`ranks.renewed_ranks`); None: windows not read.
    renewed: frozenset[str] | None = None
    # Where the member stands against each renewing perk's window (`perk_windows`); None: windows not read.
    windows: Mapping[str, RenewalStatus] | None = None


def perk_windows(perks: Iterable[Perk], counters: Counts, user_id: str) -> dict[str, RenewalStatus] | None:
    """The member's standing against the window of each perk that must be renewed, with when a short one fell
    short (None: no perk renews)."""
    found: dict[str, RenewalStatus] = {}
    for perk in perks:
        if perk.renewal is not None:
            where = status(counters, user_id, perk.renewal)
            if not where.held and where.month is not None:
                where = replace(where, lapsed_at=lapsed_at(counters, user_id, perk.renewal))
            found[perk.id] = where
    return found or None


def counter_name(ruleset: Ruleset, counter_id: str) -> str:
    counter = ruleset.spec.counters.get(counter_id)
    return counter.name if counter is not None else counter_id


def window_short(perk: Perk, profile: Profile) -> RenewalStatus | None:
    """The member's window for a renewing perk when it lacks enough (None: enough, no window, or not read)."""
    if perk.renewal is None or profile.windows is None:
        return None
    found = profile.windows.get(perk.id)
    return found if found is not None and not found.held else None


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
        current = standing(ranks, profile.reputation, profile.badges, profile.renewed).rank
        # Ranks run lowest first with rising reputation: compare those, not positions (`ranks.index` compares
        # pydantic models field by field).
        if wanted is not None and (current is None or current.reputation < wanted.reputation):
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
    short = window_short(perk, profile)
    if short is not None and perk.renewal is not None:
        name = counter_name(ruleset, perk.renewal.counter).lower()
        missing.append(f"{short.at - short.count:,} more {name} in the last {perk.renewal.window.strip()}")
    if profile.suspended:
        missing.append("an account in good standing (it is suspended)")
    return Verdict(eligible=not missing, missing=missing)


def reputation_floor(ruleset: Ruleset, perk: Perk) -> int:
    """The least reputation anyone eligible for `perk` has (directly, or through the rank it needs)."""
    floor = perk.eligibility.reputation or 0
    if perk.eligibility.rank is not None:
        rank = next((r for r in ruleset.spec.ranks if r.id == perk.eligibility.rank), None)
        floor = max(floor, rank.reputation if rank is not None else 0)
    return floor


def describe_missing(missing: list[str]) -> str:
    if not missing:
        return ""
    if len(missing) == 1:
        return missing[0]
    return ", ".join(missing[:-1]) + " and " + missing[-1]
