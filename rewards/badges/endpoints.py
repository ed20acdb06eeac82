"""HTTP API for badges: the catalogue, a user's badges and progress, grants and revocations by hand."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from rewards.badges import service
from rewards.badges.schemas import (
    BadgeHoldersOut,
    CatalogueOut,
    EarnedBadgeOut,
    GrantBadgeIn,
    RevokeBadgeIn,
    UserBadgesOut,
)
from rewards.deps import CanRead, IsAdmin, RuntimeDep, SessionDep, UowDep, actor_of
from rewards.outbox import service as outbox
from rewards.runtime import utcnow
from rewards.users.endpoints import UserId

router = APIRouter(tags=["badges"])


@router.get("/v1/badges", response_model=CatalogueOut, summary="The badge catalogue, with tiers and holders")
async def get_catalogue(session: SessionDep, runtime: RuntimeDep, _: CanRead) -> CatalogueOut:
    return await service.catalogue(session, runtime.ruleset)


@router.get(
    "/v1/badges/{badge_id}/holders",
    response_model=BadgeHoldersOut,
    responses={
        422: {"description": "A tier the badge does not have, or a cursor this API did not hand out."},
        404: {"description": "No such badge in the published rules."},
    },
    summary="Who holds a badge, newest first",
)
async def get_badge_holders(
    badge_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    runtime: RuntimeDep,
    _: CanRead,
    tier: Annotated[str | None, Query(max_length=16, description="Only this tier: bronze, silver or gold.")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_HOLDERS_PAGE)] = service.HOLDERS_PAGE,
    cursor: Annotated[str | None, Query(max_length=1000, description="`next_cursor` of the previous page.")] = None,
) -> BadgeHoldersOut:
    """The badge (criterion, tiers, holders per tier) and one row per member and tier they hold, with the member's
    name and picture, since when, and how many awards (a per-post badge's posts)."""
    return await service.holders(session, runtime.ruleset, badge_id, tier=tier, cursor=cursor, limit=limit)


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
