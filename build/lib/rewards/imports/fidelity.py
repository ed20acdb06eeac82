"""How well a ruleset reproduces a Stack Exchange dump: reputation and badges, user by user, with likely causes.

Pure: the dump's events run through the engine's core (`apply_event`) in memory under the ruleset to check, with
no database, and the result is compared with `Users.xml` and `Badges.xml`.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rewards.engine.evaluate import apply_event
from rewards.engine.ruleset import Ruleset
from rewards.engine.state import EventInput, WorkingState
from rewards.imports.stackexchange import DumpStats, DumpUser

ASSOCIATION_BONUS = 100
SHARES = (("within_1_percent", 0.01), ("within_5_percent", 0.05), ("within_10_percent", 0.10))

# Causes, in the words of the report.
ASSOCIATION = "association bonus (+100, earned on the user's other sites)"
SUGGESTED_EDITS = "approved suggested edits (+2 each; the dump has no PostHistory.xml)"
ANSWER_DOWNVOTES = "downvotes cast on answers (-1 each to the voter; the dump does not say who voted)"
CAP_ORDER = (
    "the 200/day cap: downvotes received on a capped day count against the cap on Stack Exchange, and votes "
    "are dated by day only"
)
DELETED_BOUNTY = "a bounty started on a question deleted since (its amount is spent; the question is not in the dump)"
DELETED_POSTS = "deleted posts (their reputation stays on the site when old and well scored; not in the dump)"
META = "meta site: Users.xml shows the parent site's reputation"
UNEXPLAINED = "unexplained"


@dataclass
class Reconstruction:
    """What the engine makes of a dump under one ruleset."""

    reputation: dict[str, int]
    badge_holders: dict[str, set[str]]  # badge name -> users
    capped_days: dict[str, int]  # user -> most a net cap could add back (see CAP_ORDER)
    events: int = 0
    failed: list[str] = field(default_factory=list)


def reconstruct(ruleset: Ruleset, events: Iterable[dict[str, Any]]) -> Reconstruction:
    """Run the events through the pure engine, in order, holding all state in memory."""
    state = WorkingState()
    downvotes_by_day: Counter[tuple[str, date]] = Counter()
    failed: list[str] = []
    seq = 0
    for raw in events:
        seq += 1
        event = EventInput(
            seq=seq, source=raw["source"], id=raw["id"], type=raw["type"], time=raw["time"], data=raw["data"]
        )
        if raw["type"] == "post.downvoted":
            downvotes_by_day[(raw["data"]["post"]["author"], raw["time"].date())] += 1
        try:
            apply_event(ruleset, event, state)
        except Exception as error:  # an event the ruleset cannot apply is a finding of the check, as in the service
            failed.append(f"{raw['id']}: {error}")
        if seq % 1000 == 0:
            state.committed()  # drop what can no longer change (undone awards, written entries)
    capped: Counter[str] = Counter()
    for (user_id, _cap, day), bucket in state.buckets.items():
        if bucket.raw > bucket.credited:
            capped[user_id] += min(bucket.raw - bucket.credited, 2 * downvotes_by_day[(user_id, day)])
    holders: dict[str, set[str]] = defaultdict(set)
    for holding in state.badges.values():
        badge = ruleset.badges.get(holding.badge_id)
        if badge is not None and holding.held:
            holders[badge.name].add(holding.user_id)
    return Reconstruction(
        reputation={user_id: user.reputation for user_id, user in state.users.items()},
        badge_holders=dict(holders),
        capped_days=dict(capped),
        events=seq,
        failed=failed,
    )


def site_reputation(engine_points: int, bonus: int = 0) -> int:
    """Stack Exchange starts everyone at 1 (the engine at 0) and never shows less than 1; the association bonus
    comes before that floor (it is what lets a new user start a bounty)."""
    return max(1, 1 + engine_points + bonus)


@dataclass(frozen=True)
class UserComparison:
    user_id: str
    dump: int
    engine: int  # as the site would show it: 1 + points, at least 1
    engine_with_bonus: int
    causes: tuple[str, ...]

    @property
    def difference(self) -> int:
        return self.dump - self.engine

    @property
    def exact(self) -> bool:
        return self.dump in (self.engine, self.engine_with_bonus)

    def within(self, share: float) -> bool:
        return any(
            abs(self.dump - got) <= share * max(abs(self.dump), 1) for got in (self.engine, self.engine_with_bonus)
        )


def attribute(
    user_id: str,
    want: int,
    points: int,
    user: DumpUser,
    *,
    meta: bool,
    post_history: bool,
    cap_slack: int,
    deleted_bounties: int,
) -> tuple[str, ...]:
    """The likely causes of a difference, or () when the figures agree (allowing the association bonus)."""
    plain, bonused = site_reputation(points), site_reputation(points, ASSOCIATION_BONUS)
    if want == plain:
        return ()
    if meta:
        return (META,)
    if want == bonused:
        return (ASSOCIATION,)
    best: tuple[str, ...] = (UNEXPLAINED,)
    for base, prefix in ((plain, ()), (bonused, (ASSOCIATION,))):
        residual = want - base
        explained = _explain(
            residual, user, post_history=post_history, cap_slack=cap_slack, deleted_bounties=deleted_bounties
        )
        if explained:
            candidate = (*prefix, *explained)
            # Prefer the explanation that needs fewer causes; ties go to the one without the bonus.
            if best == (UNEXPLAINED,) or len(candidate) < len(best):
                best = candidate
    if best == (UNEXPLAINED,):
        residual = want - bonused if want > bonused else want - plain
        if residual > 0:
            best = (ASSOCIATION, DELETED_POSTS) if want > bonused else (DELETED_POSTS,)
    return best


def _explain(
    residual: int, user: DumpUser, *, post_history: bool, cap_slack: int, deleted_bounties: int
) -> tuple[str, ...]:
    """One or two causes that add up to `residual` (dump minus engine), or () if none does."""
    if residual < 0:
        if deleted_bounties and -residual == deleted_bounties:
            return (DELETED_BOUNTY,)
        if -residual <= user.downvotes_cast:
            return (ANSWER_DOWNVOTES,)
        return ()
    if 0 < residual <= cap_slack:
        return (CAP_ORDER,)
    if not post_history and residual % 2 == 0:
        return (SUGGESTED_EDITS,)
    if not post_history and residual % 2 == 1 and user.downvotes_cast:
        return (SUGGESTED_EDITS, ANSWER_DOWNVOTES)  # +2k edits, minus an odd number of -1s
    return ()


def compare_users(
    users: dict[str, DumpUser],
    reconstruction: Reconstruction,
    *,
    meta: bool,
    post_history: bool,
    deleted_bounties: dict[str, int],
) -> list[UserComparison]:
    rows = []
    for user_id, user in users.items():
        points = reconstruction.reputation.get(user_id, 0)
        causes = attribute(
            user_id,
            user.reputation,
            points,
            user,
            meta=meta,
            post_history=post_history,
            cap_slack=reconstruction.capped_days.get(user_id, 0),
            deleted_bounties=deleted_bounties.get(user_id, 0),
        )
        rows.append(
            UserComparison(
                user_id, user.reputation, site_reputation(points), site_reputation(points, ASSOCIATION_BONUS), causes
            )
        )
    return rows


def share(hits: int, total: int) -> float:
    return round(100 * hits / total, 2) if total else 0.0


def shares(rows: list[UserComparison]) -> dict[str, Any]:
    """Exact, exact allowing the association bonus, and within 1/5/10% (allowing it too)."""
    result: dict[str, Any] = {
        "users": len(rows),
        "exact": share(sum(row.dump == row.engine for row in rows), len(rows)),
        "exact_or_association_bonus": share(sum(row.exact for row in rows), len(rows)),
    }
    for name, fraction in SHARES:
        result[name] = share(sum(row.within(fraction) for row in rows), len(rows))
    return result


@dataclass(frozen=True)
class BadgeAgreement:
    badge: str
    dump_holders: int
    engine_holders: int
    both: int
    only_dump: int
    only_engine: int
    likely_causes: list[str]


def compare_badges(
    dump: dict[str, set[str]],
    engine: dict[str, set[str]],
    names: Iterable[str],
    stats: DumpStats,
    dump_user_ids: set[str],
) -> list[BadgeAgreement]:
    """Per badge in both catalogues: holders in the dump and in the engine, and where they disagree, why. Engine
    holders who are not in Users.xml (users deleted since, whose posts the dump gives to `deleted-user-of-post-N`)
    are left out: the dump keeps no badges of theirs."""
    result = []
    for name in names:
        want, got = dump.get(name, set()), engine.get(name, set()) & dump_user_ids
        causes = []
        if want - got:
            causes.append(
                "only in the dump: votes on posts deleted since (the badge stays, the post and its votes are gone: "
                f"{stats.skipped_votes_on_missing_posts} such votes), votes cast and retracted, and a post's score "
                "passing the threshold within a day in an order the dump does not keep"
            )
        if got - want:
            causes.append(
                "only in the engine: a score that passed the threshold only in the dump's order of one day's votes "
                "(the dump keeps their order, not their times), or votes the site no longer counts"
            )
        result.append(
            BadgeAgreement(name, len(want), len(got), len(want & got), len(want - got), len(got - want), causes)
        )
    return result
