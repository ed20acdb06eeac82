"""HTTP API for badges: the catalogue, a user's badges and progress, grants and revocations by hand."""

from fastapi import APIRouter

from rewards.badges import service
from rewards.badges.schemas import CatalogueOut, EarnedBadgeOut, GrantBadgeIn, RevokeBadgeIn, UserBadgesOut
from rewards.deps import CanRead, IsAdmin, RuntimeDep, SessionDep, UowDep, actor_of
from rewards.outbox import service as outbox
from rewards.runtime import utcnow
from rewards.users.endpoints import UserId

router = APIRouter(tags=["badges"])


@router.get("/v1/badges", response_model=CatalogueOut, summary="The badge catalogue, with tiers and holders")
async def get_catalogue(session: SessionDep, runtime: RuntimeDep, _: CanRead) -> CatalogueOut:
    return await service.catalogue(session, runtime.ruleset)


@router.get(
    "/v1/users/{user_id:member}/badges",
    response_model=UserBadgesOut,
    responses={404: {"description": "Never named in any event."}},
    summary="A user's badges and progress to every next tier",
)
async def get_user_badges(user_id: UserId, session: SessionDep, runtime: RuntimeDep, _: CanRead) -> UserBadgesOut:
    """Earned badges (tier, date, the post for post badges), lost ones, and progress: `Solver silver: 7/25`."""
    return await service.user_badges(session, runtime.ruleset, user_id)


@router.post(
    "/v1/admin/badges/grant",
    response_model=EarnedBadgeOut,
    status_code=201,
    tags=["admin"],
    responses={
        404: {"description": "No such badge in the published rules, or the user never appeared in an event."},
        409: {"description": "The user already holds that badge (tier, post), or the event log is being replayed."},
    },
)
async def grant_badge(body: GrantBadgeIn, uow: UowDep, runtime: RuntimeDep, principal: IsAdmin) -> EarnedBadgeOut:
    """Grant a badge by hand, with a reason. It survives a replay; the audit log records it."""
    earned = await service.grant(uow.session, runtime.ruleset, body, actor_of(principal), utcnow())
    uow.after_commit(lambda: outbox.kick(runtime))
    return earned


@router.post(
    "/v1/admin/badges/revoke",
    response_model=EarnedBadgeOut,
    tags=["admin"],
    responses={
        404: {"description": "No such badge in the published rules, or the user does not hold it."},
        409: {"description": "The event log is being replayed: try again when it has finished."},
    },
)
async def revoke_badge(body: RevokeBadgeIn, uow: UowDep, runtime: RuntimeDep, principal: IsAdmin) -> EarnedBadgeOut:
    """Revoke a badge, with a reason. The rules do not grant it again; the audit log records it."""
    revoked = await service.revoke(uow.session, runtime.ruleset, body, actor_of(principal), utcnow())
    uow.after_commit(lambda: outbox.kick(runtime))
    return revoked
