"""Use cases of the pages: sign-in, an expert's own page, public profiles, the console's people search."""

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.badges import service as badges
from rewards.badges.schemas import BadgeHolderOut, BadgeOut, EarnedBadgeOut, ProgressOut, UserBadgesOut
from rewards.config import Settings
from rewards.db import unit_of_work
from rewards.engine.boards import period_key
from rewards.engine.ruleset import Ruleset
from rewards.errors import NotFound, RewardsError
from rewards.leaderboards import service as leaderboards
from rewards.leaderboards.schemas import EntryOut
from rewards.links import Links
from rewards.perks import service as perks
from rewards.perks.schemas import PerkGrantOut, UserPerksOut
from rewards.rulesets.schemas import PreviewOut
from rewards.runtime import Runtime
from rewards.users import profiles
from rewards.users import repository as users_repository
from rewards.users import service as users
from rewards.users.repository import UserView
from rewards.users.schemas import HistoryEntryOut, UserOut
from rewards.web import repository, sessions, sso
from rewards.web.i18n import N_
from rewards.web.render import PageError
from rewards.web.sessions import Viewer

log = logging.getLogger(__name__)

HISTORY_PAGE = 30
PEOPLE_PAGE = 50

DEMO_MANAGER = sso.Identity(user_id="demo-manager", name="Demo manager", locale=None, roles=("manager",))


def require_sign_in_available(settings: Settings) -> None:
    if settings.session_signing_secret is None:
        raise PageError(
            503,
            N_("Sign-in is not set up"),
            N_("This engine has no REWARDS_SESSION_SECRET, so it cannot keep anyone signed in. Ask its operator."),
        )


def verified_identity(settings: Settings, token: str) -> sso.Identity:
    """The person the forum's token names, or a page saying why it cannot sign anyone in."""
    require_sign_in_available(settings)
    try:
        return sso.verify(token, settings)
    except sso.SignInRefused as refused:
        raise PageError(401, N_("Sign-in refused"), refused.message, **refused.params) from refused


def sign_in(settings: Settings, token: str) -> Viewer:
    """Verify the forum's token and open a session for the person it names (a fresh session and CSRF token)."""
    return sessions.start(verified_identity(settings, token))


def profile_from_claims(identity: sso.Identity) -> profiles.ProfileChange | None:
    """What a sign-in says of the member's profile: the token's standard claims (`name`, `preferred_username`,
    `picture`, `profile`, `zoneinfo`, `locale`). A `name` that is only the id says nothing."""
    claims = identity.claims
    return profiles.change(
        identity.user_id,
        profiles.SSO_SOURCE,
        display_name=claims.name if claims.name != identity.user_id else None,
        username=claims.preferred_username,
        avatar_url=claims.picture,
        profile_url=claims.profile,
        time_zone=claims.zoneinfo,
        locale=claims.locale,
    )


async def remember_profile(runtime: Runtime, identity: sso.Identity, now: datetime) -> None:
    """Store what the sign-in says of the member, in its own transaction. A sign-in never fails for it: a busy
    database is logged, and the next sign-in tries again."""
    made = profile_from_claims(identity)
    if made is None:
        return
    try:
        async with unit_of_work(runtime.sessionmaker) as uow:
            await profiles.upsert(uow.session, [made], now, runtime.settings.links)
    except DBAPIError as error:
        log.warning("the profile of %r from its sign-in was not stored: %s", identity.user_id, error)


async def development_identity(session: AsyncSession, settings: Settings, who: str, locale: str | None) -> sso.Identity:
    """The demo manager, or the demo expert: the community's real member with the most reputation."""
    if settings.environment != "development":
        raise PageError(404, N_("Page not found"), N_("The development sign-in exists only in development."))
    if who == "manager":
        return sso.Identity(DEMO_MANAGER.user_id, DEMO_MANAGER.name, locale, DEMO_MANAGER.roles)
    if who == "expert":
        user_id = await repository.most_reputable_user_id(session)
        if user_id is None:
            raise PageError(409, N_("No experts yet"), N_("No event has named anyone yet: post some events first."))
        return sso.Identity(user_id, user_id, locale, ())
    raise PageError(400, N_("Unknown demo user"), N_("Choose the demo manager or the demo expert."))


async def demo_expert_id(session: AsyncSession) -> str | None:
    return await repository.most_reputable_user_id(session)


@dataclass(frozen=True)
class PostLink:
    post: str
    url: str | None  # where the post is on the forum, when a template or the source says


@dataclass(frozen=True)
class BadgeShown:
    """One row of a member's badges: a per-post badge held for several posts is one row with its posts (Nice
    Answer x4), newest first; `granted_at` is the newest award's."""

    badge_id: str
    name: str
    icon: str | None
    tier: str
    granted_at: datetime
    posts: list[PostLink]
    since: datetime  # the first award's: held since then

    @property
    def count(self) -> int:
        return max(len(self.posts), 1)


def shown_badges(earned: list[EarnedBadgeOut], post_links: dict[str, str]) -> list[BadgeShown]:
    """The held badges (newest first) as rows: the awards of one badge and tier for several posts together."""
    rows: dict[tuple[str, str], BadgeShown] = {}
    for award in earned:
        key = (award.badge_id, award.tier)
        row = rows.get(key)
        if row is None:
            row = BadgeShown(award.badge_id, award.name, award.icon, award.tier, award.granted_at, [], award.granted_at)
        rows[key] = replace(row, since=min(row.since, award.granted_at))
        if award.post:
            row.posts.append(PostLink(award.post, post_links.get(award.post)))
    return list(rows.values())


@dataclass(frozen=True)
class MemberPage:
    """A member's reputation, rank, ledger, badges and perks; `user` is None when no event has named them yet.
    Parts a page does not show are left empty (`badges`/`perks` None)."""

    user_id: str
    user: UserOut | None
    entries: list[HistoryEntryOut]
    next_before: int | None
    badges: UserBadgesOut | None = None
    perks: UserPerksOut | None = None
    post_links: dict[str, str] = field(default_factory=dict)  # where each per-post badge's post is on the forum

    @property
    def shown_badges(self) -> list[BadgeShown]:
        return shown_badges(self.badges.earned, self.post_links) if self.badges is not None else []


async def member_page(
    session: AsyncSession,
    ruleset: Ruleset,
    user_id: str,
    *,
    before: int | None,
    now: datetime,
    with_history: bool = True,
    with_perks: bool = True,
    links: Links | None = None,
) -> MemberPage:
    """`links`: the configured URL templates (`Settings.links`); without them, what the sources' names give."""
    try:
        user = await users.profile(session, user_id, ruleset.spec.ranks, ruleset)
    except NotFound:
        return MemberPage(user_id, None, [], None)
    entries: list[HistoryEntryOut] = []
    next_before = None
    if with_history:
        history = await users.history(session, user_id, before=before, limit=HISTORY_PAGE, links=links)
        entries, next_before = history.entries, history.next_before
    return MemberPage(
        user_id,
        user,
        entries,
        next_before,
        badges=await badges.user_badges(session, ruleset, user_id),
        perks=await perks.user_perks(session, ruleset, user_id, now) if with_perks else None,
        post_links=await badge_post_links(session, user_id, links or Links()),
    )


async def badge_post_links(session: AsyncSession, user_id: str, links: Links) -> dict[str, str]:
    """Post -> its address on the forum, for the member's per-post badges (the source of the event that earned
    the badge says which forum)."""
    earned = await users_repository.badge_post_events(session, user_id)
    if not earned:
        return {}
    events = await users_repository.posts_of_events(session, list(earned.values()))
    found: dict[str, str] = {}
    for post, seq in earned.items():
        source, post_id, kind = events.get(seq, ("", None, None))
        url = links.post_url(source, post, kind if post_id == post else None) if source else None
        if url is not None:
            found[post] = url
    return found


@dataclass(frozen=True)
class BadgePage:
    """A badge's public page: how to earn it, who holds it (a page of them), and where the viewer stands."""

    badge: BadgeOut
    holders: list[BadgeHolderOut]
    next_cursor: str | None
    tier: str | None
    unit: str | None  # what is counted, as the rules name it (`Accepted answers`); None: reputation
    scope: str | None  # the category or the kind of post it counts in
    streak: bool
    viewer_held: list[BadgeShown]
    viewer_progress: ProgressOut | None

    @property
    def still_missing(self) -> int:
        step = self.viewer_progress
        return 0 if step is None else max(step.at - step.value, 0)


async def badge_page(
    session: AsyncSession,
    ruleset: Ruleset,
    badge_id: str,
    *,
    viewer_id: str | None,
    tier: str | None,
    cursor: str | None,
    links: Links | None = None,
) -> BadgePage:
    try:
        found = await badges.holders(session, ruleset, badge_id, tier=tier, cursor=cursor)
    except NotFound as error:
        raise PageError(
            404, N_("No such badge"), N_("The rules in force have no badge %(badge)s."), badge=badge_id
        ) from error
    except RewardsError as error:
        raise PageError(
            error.status_code, N_("This address or form cannot be used"), N_("Correct it and try again. %(problems)s"),
            problems=error.message,
        ) from error  # fmt: skip
    badge = ruleset.badges[found.badge.id]
    counted = badge.counter or badge.streak or badge.post
    counter = ruleset.spec.counters.get(counted) if counted is not None else None
    held: list[BadgeShown] = []
    progress: ProgressOut | None = None
    if viewer_id is not None:
        try:
            mine = await badges.user_badges(session, ruleset, viewer_id)
        except NotFound:
            mine = None  # no event has named the viewer yet: nothing held, nothing counted
        if mine is not None:
            post_links = await badge_post_links(session, viewer_id, links or Links()) if badge.post else {}
            earned = [award for award in mine.earned if award.badge_id == badge.id]
            held = shown_badges(earned, post_links)
            progress = next((step for step in mine.progress if step.badge_id == badge.id), None)
    return BadgePage(
        badge=found.badge,
        holders=found.holders,
        next_cursor=found.next_cursor,
        tier=tier,
        unit=counter.name if counter is not None else None,
        scope=badge.scope,
        streak=badge.streak is not None,
        viewer_held=held,
        viewer_progress=progress,
    )


async def public_profile(
    session: AsyncSession, ruleset: Ruleset, user_id: str, now: datetime, links: Links | None = None
) -> MemberPage:
    """What anyone may see: reputation, rank and badges (not the ledger, not perks)."""
    page = await member_page(
        session, ruleset, user_id, before=None, now=now, with_history=False, with_perks=False, links=links
    )
    if page.user is None:
        raise PageError(404, N_("No such member"), N_("No event has named the user %(user)s yet."), user=user_id)
    return page


OFFER_ACTIONS = ("claim", "decline")


class OfferRefused(Exception):
    """A claim or decline on /me that did not work: the page says why, where the buttons are (POST-redirect-GET,
    with the reason in a flash), and the request's transaction is rolled back."""

    def __init__(self, perk_id: str, action: str, reason: str) -> None:
        super().__init__(reason)
        self.perk_id = perk_id
        self.action = action
        self.reason = reason


async def answer_offer(
    session: AsyncSession, ruleset: Ruleset, user_id: str, perk_id: str, action: str, now: datetime
) -> None:
    """The signed-in expert claims or declines their own offer (declining also leaves a waitlist)."""
    use_case = {"claim": perks.claim, "decline": perks.decline}.get(action)
    if use_case is None:
        raise PageError(404, N_("Page not found"), N_("Perks can be claimed or declined, nothing else."))
    try:
        await use_case(session, ruleset, user_id, perk_id, now)
    except RewardsError as error:
        raise OfferRefused(perk_id, action, error.message) from error


@dataclass(frozen=True)
class OfferOutcome:
    """What the expert's page says after a claim or a decline: the perk, and its grant as it is now (the code, the
    seat's date and place), or why it did not work (`problem`)."""

    action: str
    perk_id: str
    name: str
    grant: PerkGrantOut | None
    problem: str | None


def offer_outcome(
    ruleset: Ruleset, found: UserPerksOut | None, action: str, perk_id: str, problem: str | None
) -> OfferOutcome | None:
    if action not in OFFER_ACTIONS:
        return None
    perk = next((perk for perk in ruleset.spec.perks if perk.id == perk_id), None)
    grants = [] if found is None else [*found.active, *found.pending_approval, *found.waitlisted, *found.offered]
    grant = next((grant for grant in grants if grant.perk_id == perk_id), None)
    name = perk.name if perk is not None else perk_id
    return OfferOutcome(action, perk_id, name, grant if problem is None else None, problem)


@dataclass(frozen=True)
class PersonFound:
    """A member in the console's search results."""

    user_id: str
    display_name: str
    avatar_url: str | None
    profile_url: str | None
    username: str | None
    reputation: int
    suspended: bool


async def find_people(session: AsyncSession, query: str) -> list[PersonFound]:
    """Members whose id starts with `query`, or whose name or username holds it (any case), most reputation
    first."""
    query = " ".join(query.split())[:200]
    if not query:
        return []
    found = await users_repository.find_members(session, query, query.casefold(), limit=PEOPLE_PAGE)
    return [_person(user) for user in found]


def _person(user: UserView) -> PersonFound:
    return PersonFound(
        user_id=user.user_id,
        **profiles.member_fields(user.user_id, user.profile),
        username=None if user.profile is None else user.profile.username,
        reputation=user.reputation,
        suspended=user.suspended,
    )


async def preview_members(session: AsyncSession, report: PreviewOut) -> dict[str, profiles.MemberCard]:
    """Name and avatar of every member a rules preview names (its movers and its boards' tops)."""
    result = report.result
    named = [move.user_id for move in (*result.gainers, *result.losers)]
    named += [row.user_id for board in result.boards for row in (*board.before, *board.after)]
    return await profiles.cards(session, named)


# -- the console's actions on a member's page ------------------------------------------------------------

PERSON_ACTIONS = ("adjust", "badge-grant", "badge-revoke", "perk-grant", "perk-revoke")


@dataclass(frozen=True)
class BadgeChoice:
    id: str
    name: str
    tiers: list[str]
    per_post: bool


@dataclass(frozen=True)
class PersonForms:
    """The action forms on a member's console page: what can be chosen, the action just done (`done`), or the
    form that failed (`failed`) with the service's message and the values sent, kept."""

    badges: list[BadgeChoice]
    tiers: list[str]
    perks: list[tuple[str, str]]
    done: str | None = None
    failed: str | None = None
    error: str | None = None
    error_params: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)


def person_forms(ruleset: Ruleset, *, done: str | None = None) -> PersonForms:
    badges = [
        BadgeChoice(badge.id, badge.name, [tier for tier, _ in badge.levels()], badge.post is not None)
        for badge in sorted(ruleset.badges.values(), key=lambda badge: badge.name.lower())
    ]
    tiers = list(dict.fromkeys(tier for badge in badges for tier in badge.tiers))
    perks_offered = [(perk.id, perk.name) for perk in ruleset.spec.perks]
    return PersonForms(badges, tiers, perks_offered, done=done if done in PERSON_ACTIONS else None)


# -- my spot on the leaderboards -------------------------------------------------------------------------

SPOT_PERIODS = ("all-time", "monthly")
SPOT_RADIUS = 2


@dataclass(frozen=True)
class BoardSpot:
    """A member's place on one board and period with the neighbours; `entries` empty: not on it (yet)."""

    board_id: str
    title: str
    period: str
    at: str
    entries: list[EntryOut]


async def my_spots(runtime: Runtime, session: AsyncSession, user_id: str, now: datetime) -> list[BoardSpot]:
    """The member's rank on every board, all-time and this month, with two neighbours above and below."""
    spots: list[BoardSpot] = []
    for board in runtime.ruleset.spec.leaderboards:
        for period in SPOT_PERIODS:
            if period not in board.periods:
                continue
            try:
                found = await leaderboards.around_user(
                    runtime, session, board.id, user_id, period, None, SPOT_RADIUS, now
                )
            except NotFound:
                spots.append(BoardSpot(board.id, board.title, period, period_key(period, now), []))
                continue
            spots.append(BoardSpot(board.id, board.title, period, found.at, found.entries))
    return spots
