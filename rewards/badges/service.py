"""Use cases of badges: the catalogue, a user's badges and progress, manual grants and revocations."""

import base64
import binascii
import json
import uuid
from collections import Counter as Tally
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rewards.audit import service as audit
from rewards.badges import repository
from rewards.badges.models import BadgeAwardRow
from rewards.badges.schemas import (
    BadgeHolderOut,
    BadgeHoldersOut,
    BadgeOut,
    BadgeSummaryOut,
    CatalogueOut,
    EarnedBadgeOut,
    GrantBadgeIn,
    ProgressOut,
    RevokeBadgeIn,
    TierOut,
    TopBadgeOut,
    UserBadgesOut,
)
from rewards.engine.perks import counter_name
from rewards.engine.ranks import rank_change_notice, renewed_ranks, standing
from rewards.engine.recognition import badge_notice_data
from rewards.engine.ruleset import TIER_ORDER, Badge, Ruleset
from rewards.engine.state import BadgeHolding, BadgeSource
from rewards.errors import Conflict, InvalidInput, NotFound
from rewards.events import repository as events_repository
from rewards.outbox import service as outbox
from rewards.renewals import repository as renewals
from rewards.users import profiles
from rewards.users import repository as users_repository

HOLDERS_PAGE = 50
MAX_HOLDERS_PAGE = 200


def criterion_text(ruleset: Ruleset, badge: Badge) -> str:
    if badge.reputation:
        return "Reputation"
    counter_id = badge.counter or badge.post or badge.streak or ""
    name = counter_name(ruleset, counter_id)
    if badge.streak is not None:
        return f"Consecutive UTC days with {name.lower()}"
    if badge.post is not None:
        kind = badge.scope or "post"
        extra = "".join(f", {ruleset.spec.counters[c].name.lower()} {at}+" for c, at in badge.requires.items())
        return f"{name} of one {kind}{extra}"
    return f"{name} in {badge.scope}" if badge.scope else name


def _kind(badge: Badge) -> str:
    if badge.post is not None:
        return "post"
    if badge.streak is not None:
        return "streak"
    return "reputation" if badge.reputation else "counter"


def _badge_out(ruleset: Ruleset, badge: Badge, holders: dict[tuple[str, str], int]) -> BadgeOut:
    return BadgeOut(
        id=badge.id,
        name=badge.name,
        description=badge.description,
        icon=badge.icon,
        criterion=criterion_text(ruleset, badge),
        kind=_kind(badge),
        revocable=badge.revocable,
        tiers=[TierOut(tier=tier, at=at, holders=holders.get((badge.id, tier), 0)) for tier, at in badge.levels()],
    )


async def catalogue(session: AsyncSession, ruleset: Ruleset) -> CatalogueOut:
    holders = await repository.holder_counts(session)
    return CatalogueOut(badges=[_badge_out(ruleset, badge, holders) for badge in ruleset.spec.badges])


def _published(ruleset: Ruleset, badge_id: str) -> Badge:
    badge = ruleset.badges.get(badge_id)
    if badge is None:
        known = ", ".join(sorted(ruleset.badges)) or "none"
        raise NotFound(f"no badge {badge_id!r} in the published rules (badges: {known})")
    return badge


def _cursor(since: datetime, user_id: str, tier: str) -> str:
    raw = json.dumps([since.isoformat(), user_id, tier], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, str, str]:
    """The (since, user, tier) a cursor of `holders` stands for; InvalidInput for anything it did not hand out."""
    try:
        since, user_id, tier = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(since)
        if not isinstance(user_id, str) or not isinstance(tier, str) or moment.tzinfo is None:
            raise ValueError
        if "\x00" in user_id + tier:  # nothing stored holds one (PostgreSQL refuses it in a query)
            raise ValueError
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise InvalidInput(
            "`cursor` is not one this API handed out: pass the `next_cursor` of the previous page, or none for the "
            "first page"
        ) from None
    return moment, user_id, tier


async def holders(
    session: AsyncSession,
    ruleset: Ruleset,
    badge_id: str,
    *,
    tier: str | None = None,
    cursor: str | None = None,
    limit: int = HOLDERS_PAGE,
) -> BadgeHoldersOut:
    """Who holds a badge now (name and picture beside the id), newest first, a page at a time; `tier` keeps one."""
    badge = _published(ruleset, badge_id)
    tiers = [name for name, _ in badge.levels()]
    if tier is not None and tier not in tiers:
        raise InvalidInput(f"{badge.name} has the tiers {', '.join(tiers)}, not {tier!r}")
    if not 1 <= limit <= MAX_HOLDERS_PAGE:
        raise InvalidInput(f"`limit` must be between 1 and {MAX_HOLDERS_PAGE}, not {limit}")
    after = _after(cursor) if cursor else None
    rows = await repository.holders(session, badge.id, tier, after, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    cards = await profiles.cards(session, [user_id for user_id, _, _, _ in page])
    return BadgeHoldersOut(
        badge=_badge_out(ruleset, badge, await repository.holder_counts(session, badge.id)),
        holders=[
            BadgeHolderOut(
                user_id=user_id,
                display_name=cards[user_id].display_name,
                avatar_url=cards[user_id].avatar_url,
                profile_url=cards[user_id].profile_url,
                tier=row_tier,
                since=since,
                posts=posts,
            )
            for user_id, row_tier, since, posts in page
        ],
        next_cursor=_cursor(page[-1][2], page[-1][0], page[-1][1]) if more else None,
    )


def _earned(ruleset: Ruleset, row: BadgeAwardRow) -> EarnedBadgeOut:
    badge = ruleset.badges.get(row.badge_id)
    return EarnedBadgeOut(
        badge_id=row.badge_id,
        name=badge.name if badge is not None else row.badge_id,
        icon=badge.icon if badge is not None else None,
        tier=row.tier,
        post=row.post or None,
        granted_at=row.granted_at,
        source=row.source,
        reason=row.reason,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
    )


async def user_badges(session: AsyncSession, ruleset: Ruleset, user_id: str) -> UserBadgesOut:
    user = await users_repository.get(session, user_id)
    if user is None:
        raise NotFound(f"user {user_id!r} has not appeared in any event yet")
    rows = await repository.user_badges(session, user_id)
    counters = await repository.user_counters(session, user_id)
    streaks = await repository.user_streaks(session, user_id)
    held = {(row.badge_id, row.tier) for row in rows if row.revoked_at is None}
    progress: list[ProgressOut] = []
    for badge in ruleset.spec.badges:
        if badge.post is not None:
            continue  # earned post by post: there is no single count to show
        if badge.reputation:
            value = user.reputation
        elif badge.streak is not None:
            streak = streaks.get(badge.streak)
            value = streak.length if streak is not None else 0
        else:
            assert badge.counter is not None
            value = counters.get((user_id, badge.counter, badge.scope or ""), 0)
        for tier, at in badge.levels():
            if (badge.id, tier) in held:
                continue
            label = f"{badge.name} {tier}" if badge.tiers is not None else badge.name
            progress.append(
                ProgressOut(
                    badge_id=badge.id,
                    name=badge.name,
                    next_tier=tier,
                    value=max(value, 0),
                    at=at,
                    text=f"{label}: {max(value, 0):,}/{at:,}",
                )
            )
            break
    progress.sort(key=lambda item: (-(item.value / item.at), item.badge_id))
    earned = [_earned(ruleset, row) for row in rows if row.revoked_at is None]
    return UserBadgesOut(
        user_id=user_id,
        counts=dict(Tally(row.tier for row in rows if row.revoked_at is None)),
        earned=earned,
        revoked=[_earned(ruleset, row) for row in rows if row.revoked_at is not None],
        progress=progress,
    )


def summaries(
    ruleset: Ruleset, held: list[tuple[str, str, str, datetime]], user_ids: list[str]
) -> dict[str, BadgeSummaryOut]:
    """Badge counts and top three badges per user, from (user, badge, tier, granted_at) of held badges."""
    by_user: dict[str, list[tuple[str, str, datetime]]] = {user_id: [] for user_id in user_ids}
    for user_id, badge_id, tier, granted_at in held:
        by_user.setdefault(user_id, []).append((badge_id, tier, granted_at))
    result: dict[str, BadgeSummaryOut] = {}
    for user_id, badges in by_user.items():
        tally = Tally(tier for _, tier, _ in badges)
        best: dict[tuple[str, str], datetime] = {}
        for badge_id, tier, granted_at in badges:
            best[(badge_id, tier)] = max(granted_at, best.get((badge_id, tier), granted_at))
        ranked = sorted(best.items(), key=lambda item: (-TIER_ORDER.get(item[0][1], 0), -item[1].timestamp()))
        top: list[TopBadgeOut] = []
        seen: set[str] = set()
        for (badge_id, tier), _ in ranked:
            if badge_id in seen:
                continue
            seen.add(badge_id)
            badge = ruleset.badges.get(badge_id)
            top.append(
                TopBadgeOut(
                    id=badge_id,
                    name=badge.name if badge else badge_id,
                    tier=tier,
                    icon=badge.icon if badge else None,
                )
            )
            if len(top) == 3:
                break
        result[user_id] = BadgeSummaryOut(
            gold=tally.get("gold", 0), silver=tally.get("silver", 0), bronze=tally.get("bronze", 0), top=top
        )
    return result


def _resolve(ruleset: Ruleset, body: GrantBadgeIn) -> tuple[Badge, str, str]:
    badge = ruleset.badges.get(body.badge_id)
    if badge is None:
        known = ", ".join(sorted(ruleset.badges)) or "none"
        raise NotFound(f"no badge {body.badge_id!r} in the published rules (badges: {known})")
    tiers = [tier for tier, _ in badge.levels()]
    tier = body.tier or tiers[0]
    if tier not in tiers:
        raise InvalidInput(f"badge {badge.id!r} has the tiers {', '.join(tiers)}, not {tier!r}")
    if badge.post is not None and not body.post:
        raise InvalidInput(f"{badge.name} is earned per post: say which post in `post`")
    return badge, tier, body.post or ""


async def _stop_kept_states(session: AsyncSession, now: datetime) -> None:
    """A change by hand to state the engine keeps in memory: wait for any batch in progress (the cursor's
    lock; not for a replay, a manager's request must not hang that long), and name a new last writer so that
    every applier reloads from the database."""
    try:
        applied_through, _ = await events_repository.take_cursor(
            session, "admin", now, wait_ms=events_repository.BATCH_WAIT_MS
        )
    except events_repository.CursorBusy:
        raise Conflict(
            "the event log is being replayed (a retroactive publish or `rewards replay`), which holds it until it "
            "commits: try again when it has finished (the rules page shows it)"
        ) from None
    await events_repository.advance_cursor(session, applied_through, f"admin-{uuid.uuid4().hex[:16]}")


async def _held(session: AsyncSession, user_id: str) -> list[tuple[str, str]]:
    return [(badge_id, tier) for _, badge_id, tier, _ in await repository.held_badges_of(session, [user_id])]


async def _rank_change(
    session: AsyncSession,
    ruleset: Ruleset,
    user_id: str,
    held_before: list[tuple[str, str]],
    held_after: list[tuple[str, str]],
    now: datetime,
) -> list[outbox.Notification]:
    """A `rank.changed` notification when a badge given or taken by hand moves the user's title (a rank may
    need badges), as the apply step writes one when events move it."""
    user = await users_repository.get(session, user_id)
    reputation = user.reputation if user is not None else 0
    ranks = ruleset.spec.ranks
    # A title that must be renewed is held only while its window has enough, with the badge as without it.
    renewed = renewed_ranks(ranks, await renewals.windows(session, ranks, [(user_id, reputation)]), user_id, reputation)
    notice = rank_change_notice(
        user_id,
        standing(ranks, reputation, held_before, renewed).rank,
        standing(ranks, reputation, held_after, renewed).rank,
        reputation,
        now,
        f"manual:{now.isoformat()}",
    )
    return [] if notice is None else [outbox.Notification.of(notice)]


async def grant(
    session: AsyncSession,
    ruleset: Ruleset,
    body: GrantBadgeIn,
    actor: str,
    now: datetime,
    *,
    source: BadgeSource = BadgeSource.MANUAL,
) -> EarnedBadgeOut:
    """A grant outside the rules: by a manager, or a leaderboard's period-end prize (`source`). Survives replay."""
    badge, tier, post = _resolve(ruleset, body)
    if await users_repository.get(session, body.user_id) is None:
        raise NotFound(f"user {body.user_id!r} has not appeared in any event yet")
    await _stop_kept_states(session, now)
    existing = await repository.get_holding(session, (body.user_id, badge.id, tier, post), for_update=True)
    if existing is not None and existing.revoked_at is None:
        raise Conflict(f"{body.user_id} already holds {badge.name} {tier}" + (f" for post {post}" if post else ""))
    holding = BadgeHolding(
        user_id=body.user_id,
        badge_id=badge.id,
        tier=tier,
        post=post,
        granted_at=now,
        event_seq=0,
        source=source,
        reason=body.reason,
    )
    held_before = await _held(session, body.user_id)
    await repository.put_holding(session, holding)
    rank_notices = await _rank_change(
        session, ruleset, body.user_id, held_before, [*held_before, (badge.id, tier)], now
    )
    await audit.record(
        session, actor=actor, action="badge.grant" if source == BadgeSource.MANUAL else f"badge.{source.value}",
        now=now, user_id=body.user_id, target=f"{badge.id}/{tier}",
        reason=body.reason, detail={"post": post or None},
    )  # fmt: skip
    await outbox.record(
        session,
        [
            outbox.Notification(
                topic="badge.awarded",
                user_id=body.user_id,
                data=badge_notice_data(badge, tier, post, body.reason),
                occurred_at=now,
                key=f"badge.awarded:{body.user_id}:{badge.id}:{tier}:{post}:manual:{now.isoformat()}",
            ),
            *rank_notices,
        ],
        now,
    )
    row = await repository.get_holding(session, (body.user_id, badge.id, tier, post))
    assert row is not None
    return _earned(ruleset, row)


async def revoke(
    session: AsyncSession, ruleset: Ruleset, body: RevokeBadgeIn, actor: str, now: datetime
) -> EarnedBadgeOut:
    badge, tier, post = _resolve(ruleset, body)
    await _stop_kept_states(session, now)
    row = await repository.get_holding(session, (body.user_id, badge.id, tier, post), for_update=True)
    if row is None or row.revoked_at is not None:
        raise NotFound(f"{body.user_id} does not hold {badge.name} {tier}" + (f" for post {post}" if post else ""))
    held_before = await _held(session, body.user_id)
    held_after = list(held_before)
    held_after.remove((badge.id, tier))  # one of them: a post badge may be held for several posts
    row.revoked_at = now
    row.revoked_reason = body.reason
    row.revoked_by = actor  # a manager's revocation sticks: the rules do not grant it again
    await session.flush()
    await audit.record(
        session, actor=actor, action="badge.revoke", now=now, user_id=body.user_id, target=f"{badge.id}/{tier}",
        reason=body.reason, detail={"post": post or None},
    )  # fmt: skip
    await outbox.record(
        session,
        [
            outbox.Notification(
                topic="badge.revoked",
                user_id=body.user_id,
                data=badge_notice_data(badge, tier, post, body.reason),
                occurred_at=now,
                key=f"badge.revoked:{body.user_id}:{badge.id}:{tier}:{post}:manual:{now.isoformat()}",
            ),
            *await _rank_change(session, ruleset, body.user_id, held_before, held_after, now),
        ],
        now,
    )
    return _earned(ruleset, row)
