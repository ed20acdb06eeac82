"""Ranks: the title a reputation earns, and how far the next one is. Pure."""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from rewards.engine.renewal import (
    AS_OF_COUNTER,
    Counts,
    RenewalStatus,
    as_of,
    bucket_counter,
    explain,
    in_window,
    status,
)
from rewards.engine.ruleset import Rank
from rewards.engine.state import Notice

HeldBadges = Collection[tuple[str, str]]  # (badge id, tier) the user holds
_TIERS = {"bronze": 1, "silver": 2, "gold": 3}


@dataclass(frozen=True)
class Standing:
    rank: Rank | None
    next_rank: Rank | None
    reputation_needed: int | None  # to reach the next rank
    progress: float | None  # 0..1 of the way from this rank's threshold to the next one's
    badges_needed: tuple[str, ...] = ()  # the next rank's badge references the user lacks


def missing_badges(rank: Rank, held: HeldBadges) -> tuple[str, ...]:
    """The rank's badge references (`solver/silver`) the user does not meet."""
    missing = []
    for reference in rank.badges:
        badge_id, _, tier = reference.partition("/")
        floor = _TIERS.get(tier, 0)
        if not any(held_id == badge_id and _TIERS.get(held_tier, 0) >= floor for held_id, held_tier in held):
            missing.append(reference)
    return tuple(missing)


def _kept(rank: Rank, renewed: Collection[str] | None) -> bool:
    """A rank with a renewal is held only while its window has enough (`renewed`: the ranks whose windows do;
    None: windows not read, as for a rules file without any)."""
    return rank.renewal is None or renewed is None or rank.id in renewed


def rank_position(
    ranks: list[Rank], reputation: int, held: HeldBadges = (), renewed: Collection[str] | None = None
) -> int:
    """The index of the highest rank whose reputation and badges the user has (ranks run lowest first), -1 for
    none. A rank that also needs badges is passed over, not blocking, when they are missing: a user may hold a
    higher title that needs none; so is one whose renewal window lacks enough (`renewed`). The first rank is
    everyone's (the rules refuse one that needs reputation or badges), below zero too: a member whom downvotes
    took under 0 is still a Newcomer, not without a title."""
    position = -1
    for index, rank in enumerate(ranks):
        if (
            (index == 0 or reputation >= rank.reputation)
            and (not rank.badges or not missing_badges(rank, held))
            and _kept(rank, renewed)
        ):
            position = index
    return position


def standing(
    ranks: list[Rank], reputation: int, held: HeldBadges = (), renewed: Collection[str] | None = None
) -> Standing:
    """The user's rank (`rank_position`) and the next one up, with what it still takes."""
    # An index, not `ranks.index(rank)`: comparing pydantic models field by field is slow.
    position = rank_position(ranks, reputation, held, renewed)
    current = ranks[position] if position >= 0 else None
    above = ranks[position + 1 :]
    following = next(
        (
            rank
            for rank in above
            if reputation < rank.reputation or missing_badges(rank, held) or not _kept(rank, renewed)
        ),
        None,
    )
    if following is None:
        return Standing(current, None, None, None if current is None else 1.0)
    floor = current.reputation if current is not None else 0
    span = following.reputation - floor
    progress = max(0.0, min(1.0, (reputation - floor) / span)) if span > 0 else 0.0
    needed = max(following.reputation - reputation, 0)
    return Standing(current, following, needed, round(progress, 4), missing_badges(following, held))


def renewal_floor(ranks: Iterable[Rank]) -> int | None:
    """The least reputation of a rank that must be renewed (None: none must): below it no window is read."""
    return min((rank.reputation for rank in ranks if rank.renewal is not None), default=None)


def renewal_counter_ids(ranks: Iterable[Rank]) -> frozenset[str]:
    """The counter ids the renewing ranks' windows are read from (the monthly counts and the as-of month)."""
    windowed = {bucket_counter(rank.renewal.counter) for rank in ranks if rank.renewal is not None}
    return frozenset({AS_OF_COUNTER, *windowed}) if windowed else frozenset()


def renewed_ranks(ranks: Iterable[Rank], counters: Counts, user_id: str, reputation: int) -> frozenset[str] | None:
    """The renewing ranks within the member's reach whose windows have enough, read at the member's as-of month
    (None: no rank renews): what `standing(..., renewed=)` takes."""
    renewing = [rank for rank in ranks if rank.renewal is not None]
    if not renewing:
        return None
    month = as_of(counters, user_id)
    return frozenset(
        rank.id
        for rank in renewing
        if rank.renewal is not None
        and reputation >= rank.reputation
        and month is not None
        and in_window(counters, user_id, rank.renewal, month) >= rank.renewal.at
    )


@dataclass(frozen=True)
class RenewalShown:
    """A renewing rank against the member's window, as a page shows it."""

    rank: Rank
    status: RenewalStatus
    explanation: str  # `Expert until 2027-03-01: ...`, or `Expert needs 10 accepted answers ...: 7 so far`


def renewal_shown(rank: Rank | None, counters: Counts, user_id: str, counter_name: str) -> RenewalShown | None:
    """How the member stands against `rank`'s renewal (None: the rank is held for good); `counter_name` is the
    renewal counter's name."""
    if rank is None or rank.renewal is None:
        return None
    found = status(counters, user_id, rank.renewal)
    return RenewalShown(rank, found, explain(rank.title, counter_name, rank.renewal, found))


def rank_change_notice(
    user_id: str,
    old: Rank | None,
    new: Rank | None,
    reputation: int,
    when: datetime,
    cause: str,
    reason: str | None = None,
) -> Notice | None:
    """The `rank.changed` notice for a title going from `old` to `new` (none when it stays, or is lost
    altogether); `cause` (an event seq, or a manager's change) makes its key unique; `reason` says why when it
    is not the reputation (a renewal window that lapsed)."""
    if old == new or new is None:
        return None
    return Notice(
        topic="rank.changed",
        user_id=user_id,
        data={
            "from": None if old is None else {"id": old.id, "title": old.title},
            "to": {"id": new.id, "title": new.title},
            "reputation": reputation,
            "direction": "up" if old is None or new.reputation > old.reputation else "down",
            **({"reason": reason} if reason is not None else {}),
        },
        occurred_at=when,
        key=f"rank.changed:{user_id}:{new.id}:{cause}",
    )
