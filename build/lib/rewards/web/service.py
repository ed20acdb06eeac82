"""Use cases of the pages: sign-in, an expert's own page, public profiles, the console's people search."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rewards.badges import service as badges
from rewards.badges.schemas import UserBadgesOut
from rewards.config import Settings
from rewards.engine.boards import period_key
from rewards.engine.ruleset import Ruleset
from rewards.errors import NotFound, RewardsError
from rewards.events.schemas import LedgerEntryOut
from rewards.leaderboards import service as leaderboards
from rewards.leaderboards.schemas import EntryOut
from rewards.perks import service as perks
from rewards.perks.schemas import UserPerksOut
from rewards.runtime import Runtime
from rewards.users import service as users
from rewards.users.models import UserRow
from rewards.users.schemas import UserOut
from rewards.web import repository, sessions, sso
from rewards.web.i18n import N_
from rewards.web.render import PageError
from rewards.web.sessions import Viewer

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


def sign_in(settings: Settings, token: str) -> Viewer:
    """Verify the forum's token and open a session for the person it names (a fresh session and CSRF token)."""
    require_sign_in_available(settings)
    try:
        identity = sso.verify(token, settings)
    except sso.SignInRefused as refused:
        raise PageError(401, N_("Sign-in refused"), refused.message, **refused.params) from refused
    return sessions.start(identity)


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
class MemberPage:
    """A member's reputation, rank, ledger, badges and perks; `user` is None when no event has named them yet.
    Parts a page does not show are left empty (`badges`/`perks` None)."""

    user_id: str
    user: UserOut | None
    entries: list[LedgerEntryOut]
    next_before: int | None
    badges: UserBadgesOut | None = None
    perks: UserPerksOut | None = None


async def member_page(
    session: AsyncSession,
    ruleset: Ruleset,
    user_id: str,
    *,
    before: int | None,
    now: datetime,
    with_history: bool = True,
    with_perks: bool = True,
) -> MemberPage:
    try:
        user = await users.profile(session, user_id, ruleset.spec.ranks, ruleset)
    except NotFound:
        return MemberPage(user_id, None, [], None)
    entries: list[LedgerEntryOut] = []
    next_before = None
    if with_history:
        history = await users.history(session, user_id, before=before, limit=HISTORY_PAGE)
        entries, next_before = history.entries, history.next_before
    return MemberPage(
        user_id,
        user,
        entries,
        next_before,
        badges=await badges.user_badges(session, ruleset, user_id),
        perks=await perks.user_perks(session, ruleset, user_id, now) if with_perks else None,
    )


async def public_profile(session: AsyncSession, ruleset: Ruleset, user_id: str, now: datetime) -> MemberPage:
    """What anyone may see: reputation, rank and badges (not the ledger, not perks)."""
    page = await member_page(session, ruleset, user_id, before=None, now=now, with_history=False, with_perks=False)
    if page.user is None:
        raise PageError(404, N_("No such member"), N_("No event has named the user %(user)s yet."), user=user_id)
    return page


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
        raise PageError(
            error.status_code, N_("That did not work"), N_("The perk was not changed: %(reason)s"), reason=error.message
        ) from error


async def find_people(session: AsyncSession, query: str) -> list[UserRow]:
    """Members whose id starts with `query`, most reputation first."""
    query = query.strip()
    if not query:
        return []
    return await repository.users_by_id_prefix(session, query[:200], limit=PEOPLE_PAGE)


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
